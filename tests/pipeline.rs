//! Issue 15: `--pipeline N`. Counts are exact against servers that cut a pipeline:
//! a scripted server (std::net, in the test) that answers 2 of 5 pipelined requests
//! and closes, barrage's own server answering `Connection: close` mid-pipeline, and
//! nginx (`keepalive_requests 7`, its access log counted) at depths 1, 2, 16 and 64
//! over HTTP and HTTPS. Batched reads (the closed loop's default with --pipeline 3 or
//! more): responses are read several at a time against nginx, and a server that
//! trickles small responses after large ones (so the socket's wake-up mark is never
//! reached) still has each one framed within milliseconds of being sent. Each run is
//! bounded by -n or -d.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use common::nginx::*;
use common::*;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Reads from `peer` until `n` whole requests (heads, and for POST the one-byte body
/// "x") have arrived; returns what arrived.
fn read_requests(peer: &mut TcpStream, n: usize, post: bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let heads = got.windows(4).filter(|w| w == b"\r\n\r\n").count();
        let whole = heads == n && (!post || got.ends_with(b"\r\n\r\nx"));
        if whole {
            return got;
        }
        let k = peer.read(&mut b).unwrap();
        assert!(k > 0, "the client closed after {heads} of {n} requests");
        got.extend_from_slice(&b[..k]);
    }
}

/// A server that reads 5 pipelined requests on its first connection, answers 2 and
/// closes (reading on to the end, so its answers are not lost to a reset); on every
/// later connection it answers whatever arrives. Returns the requests each connection
/// carried.
fn scripted(listener: TcpListener, post: bool) -> std::thread::JoinHandle<Vec<usize>> {
    listener.set_nonblocking(false).unwrap();
    std::thread::spawn(move || {
        let mut per_conn = Vec::new();
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        read_requests(&mut peer, 5, post);
        per_conn.push(5);
        peer.write_all(&[OK, OK].concat()).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        let mut sink = Vec::new();
        let _ = peer.read_to_end(&mut sink);
        // The re-sent requests, if any, come on a new connection; the run is over
        // when barrage closes it (or never connects: the accept times out).
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            let Ok((mut peer, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            peer.set_nonblocking(false).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let got = read_requests(&mut peer, 3, post);
            per_conn.push(got.windows(4).filter(|w| w == b"\r\n\r\n").count());
            peer.write_all(&[OK, OK, OK].concat()).unwrap();
            let _ = peer.read_to_end(&mut sink);
            break;
        }
        per_conn
    })
}

fn summary_line<'a>(stdout: &'a str, what: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(what))
        .unwrap_or_else(|| panic!("no {what:?} line in {stdout}"))
}

#[test]
fn issue15_server_closing_after_2_of_5_pipelined_gets_resends_the_other_3_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = scripted(listener, false);
    let dir = scratch("pipeline-scripted-get");
    let (out, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "-n", "5", "--pipeline", "5", "--columns",
            "error,new_conn",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(server.join().unwrap(), vec![5, 3], "5 sent, 3 sent again");
    assert_eq!(rows.len(), 5, "one row per request");
    assert!(rows.iter().all(|r| r.status == 200), "{rows:?}");
    assert!(
        rows.iter().all(|r| r.extra[0].is_empty()),
        "no error: {rows:?}"
    );
    let connections = summary_line(&stdout, "connections");
    assert!(connections.contains("2 opened"), "{connections}");
    assert!(connections.contains("3 requests re-sent"), "{connections}");
    assert!(summary_line(&stdout, "pipeline").contains("5"), "{stdout}");
}

#[test]
fn issue15_post_is_never_resent_the_unanswered_fail_as_their_own_kind() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = scripted(listener, true);
    let dir = scratch("pipeline-scripted-post");
    let out = run_in(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "-n", "5", "--pipeline", "5", "-m", "POST",
            "-b", "x", "--columns", "error",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(server.join().unwrap(), vec![5], "no second connection");
    let rows = read_csv(&dir.join("results.csv"));
    assert_eq!(rows.len(), 5, "{stdout}");
    let ok = rows.iter().filter(|r| r.status == 200).count();
    let unanswered = rows
        .iter()
        .filter(|r| r.status == 0 && r.extra[0] == "unanswered (pipeline cut)")
        .count();
    assert_eq!((ok, unanswered), (2, 3), "{rows:?}");
    assert!(
        summary_line(&stdout, "connections").contains("0 requests re-sent"),
        "{stdout}"
    );
}

#[test]
fn issue15_connection_close_mid_pipeline_from_barrage_serve() {
    let s = Server::start(&[]);
    let dir = scratch("pipeline-serve-close");
    // Every fourth request asks the server to answer with Connection: close: the
    // requests pipelined behind it are unanswered and go again on a new connection.
    let targets = dir.join("targets.txt");
    std::fs::create_dir_all(&dir).unwrap();
    let (plain, close) = (s.url("/"), s.url("/?close=1"));
    std::fs::write(
        &targets,
        format!("GET {plain}\n\nGET {plain}\n\nGET {plain}\n\nGET {close}\n"),
    )
    .unwrap();
    let (out, rows) = run_ok(
        &[
            "--targets",
            p(&targets),
            "-p",
            "1",
            "-t",
            "1",
            "-c",
            "2",
            "-n",
            "400",
            "--pipeline",
            "8",
        ],
        &dir.join("run"),
    );
    let stdout = text(&out.stdout);
    let (requests, connections) = s.stop();
    assert_eq!(rows.len(), 400, "{stdout}");
    let ok = rows.iter().filter(|r| r.status == 200).count() as u64;
    // A request sent again that lands behind another close is not sent a third time.
    let failed = rows.iter().filter(|r| r.status == 0).count() as u64;
    assert_eq!(ok + failed, 400, "{stdout}");
    assert_eq!(
        requests, ok,
        "rows = requests the server answered + failures"
    );
    assert!(
        ok >= 300 && connections >= 75,
        "{ok} ok, {connections} connections\n{stdout}"
    );
    let resent: u64 = summary_line(&stdout, "connections")
        .split('(')
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(resent > 0, "{stdout}");
}

/// nginx with an access log and `keepalive_requests` as given (7: it answers 7
/// requests on a connection, the 7th with `Connection: close`, and drops what was
/// pipelined behind).
struct Nginx {
    _process: NginxProcess,
    http: u16,
    https: u16,
    dir: PathBuf,
    ca: PathBuf,
}

impl Nginx {
    fn start(name: &str, keepalive_requests: u32) -> Option<Nginx> {
        let bin = nginx_binary()?;
        let dir = scratch(&format!("pipeline-nginx-{name}"));
        let pki = make_pki(&dir);
        let (http, https) = (free_port(), free_port());
        let d = dir.display();
        let servers = format!(
            r#"
    log_format bare "$status";
    access_log {d}/access.log bare;
    keepalive_requests {keepalive_requests};
    server {{
        listen 127.0.0.1:{http};
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{https} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "ok\n"; }}
    }}"#,
            cert = pki.cert.display(),
            key = pki.key.display(),
        );
        let process = NginxProcess::start(&bin, &dir, &nginx_conf(&dir, &servers), http);
        Some(Nginx {
            _process: process,
            http,
            https,
            dir,
            ca: pki.ca.clone(),
        })
    }

    /// Requests nginx has logged so far (it writes each line as the request ends).
    fn logged(&self) -> usize {
        std::fs::read_to_string(self.dir.join("access.log"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

/// At each depth: every row nginx answered is in its access log once, and every other
/// row is a request it cut off (sent again once, then unanswered): rows = answered +
/// failures, exactly.
fn counts_match_nginx(n: &Nginx, url: &str, tls: bool) {
    for depth in ["1", "2", "16", "64"] {
        let before = n.logged();
        let mut args = vec![
            url, "-p", "1", "-t", "2", "-c", "4", "-n", "3000", "--pipeline", depth, "--columns",
            "error",
        ];
        if tls {
            args.extend(["--cacert", p(&n.ca)]);
        }
        let dir = n.dir.join(format!("run-{tls}-{depth}"));
        let out = run_in(&args, &dir);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        let rows = read_csv(&dir.join("results.csv"));
        // nginx logs a request as it finishes it, before the close barrage waits for.
        let logged = n.logged() - before;
        let ok = rows.iter().filter(|r| r.status == 200).count();
        let cut = rows
            .iter()
            .filter(|r| r.status == 0 && r.extra[0] == "unanswered (pipeline cut)")
            .count();
        assert_eq!(rows.len(), 3000, "depth {depth}: {stdout}");
        assert_eq!(
            ok, logged,
            "depth {depth}: rows answered = nginx's log\n{stdout}"
        );
        assert_eq!(
            ok + cut,
            rows.len(),
            "depth {depth}: the rest unanswered\n{stdout}"
        );
        if depth == "1" {
            assert_eq!(cut, 0, "nothing to cut without pipelining");
        } else {
            assert!(
                stdout.contains(&format!("pipeline     {depth} requests")),
                "{stdout}"
            );
        }
    }
}

#[test]
fn issue15_nginx_keepalive_requests_7_http_counts_match_at_every_depth() {
    let Some(n) = Nginx::start("http", 7) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/", n.http);
    counts_match_nginx(&n, &url, false);
}

#[test]
fn issue15_nginx_keepalive_requests_7_https_counts_match_at_every_depth() {
    let Some(n) = Nginx::start("https", 7) else {
        return;
    };
    let url = format!("https://localhost:{}/", n.https);
    counts_match_nginx(&n, &url, true);
}

/// Open loop: a due request joins the pipeline of a busy connection (the server takes
/// 4 ms a request, 250/s, for 400/s on one connection), its latency counted from its
/// intended start; rows + unsent = the schedule, and the server answered every row.
#[test]
fn issue15_open_loop_requests_join_the_pipeline_of_a_busy_connection() {
    let s = Server::start(&[]);
    let dir = scratch("pipeline-open-loop");
    let url = s.url("/?delay=4ms");
    let (out, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "--max-connections", "1", "-R", "400", "-d",
            "1s", "--pipeline", "8", "--columns", "start",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    let (requests, connections) = s.stop();
    let summary = summary_json(&dir);
    let unsent = summary["schedule"]["unsent"].as_u64().unwrap();
    assert_eq!(summary["connections"]["pipeline"], 8, "{summary}");
    assert_eq!(rows.len() as u64 + unsent, 400, "{stdout}");
    assert_eq!(requests, rows.len() as u64, "the server answered every row");
    assert_eq!(connections, 1);
    assert!(rows.iter().all(|r| r.status == 200), "{stdout}");
    // On the one connection, requests started before the one ahead had ended.
    let joined = rows
        .windows(2)
        .filter(|w| w[1].extra[0].parse::<f64>().unwrap() < w[0].elapsed)
        .count();
    assert!(
        joined > 100,
        "{joined} requests joined a pipeline\n{stdout}"
    );
}

/// Requests whose heads are complete in `got`.
fn heads(got: &[u8]) -> usize {
    got.windows(4).filter(|w| w == b"\r\n\r\n").count()
}

/// A server that answers its one connection's requests in order as they arrive: the
/// first `big` with a 4,000-byte body at once, every later one with a 2-byte body
/// `gap` after the one before. Returns when it sent each response.
fn trickling(
    listener: TcpListener,
    total: usize,
    big: usize,
    gap: Duration,
) -> std::thread::JoinHandle<Vec<std::time::Instant>> {
    listener.set_nonblocking(false).unwrap();
    std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let large = [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n"[..],
            &[b'a'; 4000],
        ]
        .concat();
        let (mut got, mut b, mut sent) = (Vec::new(), [0u8; 4096], Vec::new());
        while sent.len() < total {
            while heads(&got) <= sent.len() {
                match peer.read(&mut b) {
                    // The client gave up (the test's assertions say why).
                    Ok(0) | Err(_) => return sent,
                    Ok(k) => got.extend_from_slice(&b[..k]),
                }
            }
            if sent.len() < big {
                peer.write_all(&large).unwrap();
            } else {
                std::thread::sleep(gap);
                peer.write_all(OK).unwrap();
            }
            sent.push(std::time::Instant::now());
        }
        let _ = peer.read_to_end(&mut got);
        sent
    })
}

/// Batched reads never hold a response for long: after 16 responses of 4 KB the socket
/// is asked to wake only once 8 more could be in (32 KB), which 2-byte responses sent
/// 50 ms apart never reach; each is framed all the same within a few milliseconds of
/// being sent (the hold is 1 ms, plus the poll's millisecond), not when the next 7
/// have come (350 ms) nor at the --timeout.
#[test]
fn issue15_batched_reads_hold_a_trickling_response_only_milliseconds() {
    let _serial = timing_lock();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (total, big, gap) = (40, 16, Duration::from_millis(50));
    let server = trickling(listener, total, big, gap);
    let dir = scratch("pipeline-batched-trickle");
    let (out, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "-n", "40", "--pipeline", "16", "--precision",
            "9", "--timeout", "5s",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    let sent = server.join().unwrap();
    assert_eq!(rows.len(), total, "{stdout}");
    assert!(rows.iter().all(|r| r.status == 200), "{stdout}");
    assert!(
        summary_line(&stdout, "read in batches").contains("up to 2.00ms"),
        "{stdout}"
    );
    // From the last large response on, the time between two responses' ends is the
    // time between their sends, give or take the hold (and this machine's jitter).
    let base = big - 1;
    for k in big..total {
        let framed = rows[k].elapsed - rows[base].elapsed;
        let sent_after = (sent[k] - sent[base]).as_secs_f64();
        let off = framed - sent_after;
        assert!(
            off.abs() < 0.015,
            "response {k} framed {:.2} ms after response {base}, sent {:.2} ms after it\n{stdout}",
            framed * 1e3,
            sent_after * 1e3
        );
    }
}

/// Batched reads read several responses at a time (one clock reading per read, so the
/// rows that share an `elapsed` came in one read), and counts stay exact: rows = the
/// requests nginx logged. `--no-read-batching` turns it off (the summary says so).
#[test]
fn issue15_batched_reads_take_several_responses_a_read_from_nginx() {
    let _serial = timing_lock();
    let Some(n) = Nginx::start("batched", 1_000_000) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/", n.http);
    let url = url.as_str();
    let per_read = |extra: &[&str], name: &str| {
        let before = n.logged();
        let mut args = vec![
            url, "-p", "1", "-t", "1", "-c", "4", "-n", "20000", "--pipeline", "16", "--precision",
            "9",
        ];
        args.extend(extra);
        let dir = n.dir.join(name);
        let (out, rows) = run_ok(&args, &dir);
        let stdout = text(&out.stdout);
        assert_eq!(rows.len(), 20000, "{stdout}");
        assert!(rows.iter().all(|r| r.status == 200), "{stdout}");
        assert_eq!(
            n.logged() - before,
            rows.len(),
            "rows = nginx's log\n{stdout}"
        );
        let mut ends: Vec<u64> = rows.iter().map(|r| (r.elapsed * 1e9) as u64).collect();
        ends.dedup();
        (rows.len() as f64 / ends.len() as f64, stdout)
    };
    let (batched, stdout) = per_read(&[], "batched");
    assert!(stdout.contains("read in batches"), "{stdout}");
    let (each, stdout_each) = per_read(&["--no-read-batching"], "each");
    assert!(!stdout_each.contains("read in batches"), "{stdout_each}");
    eprintln!("responses per read: batched {batched:.1}, --no-read-batching {each:.1}");
    assert!(
        batched >= 4.0,
        "batched reads took {batched:.1} responses a read (without: {each:.1})\n{stdout}"
    );
}
