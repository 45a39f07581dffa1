//! Responses that are not complete, well-framed HTTP, from a scripted server written
//! here with std::net (no HTTP library between the bytes and barrage): such a request
//! reports status 0 everywhere, whatever status line it saw, and the status line it
//! saw is in results.csv's `partial_status` column (issue 12 items 2 and 5).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;

/// The first response on every connection: complete and well framed.
const GOOD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A loopback server that answers the first request of each connection with [`GOOD`]
/// and the second with a scripted bad response, then closes the connection. It counts
/// what it sent; it lives (in its own threads) until the test process ends.
struct Scripted {
    addr: String,
    good: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
}

impl Scripted {
    fn start(bad_response: &'static [u8]) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let good = Arc::new(AtomicU64::new(0));
        let bad = Arc::new(AtomicU64::new(0));
        let (g, b) = (Arc::clone(&good), Arc::clone(&bad));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (g, b) = (Arc::clone(&g), Arc::clone(&b));
                std::thread::spawn(move || serve(conn, bad_response, &g, &b));
            }
        });
        Scripted { addr, good, bad }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.good.load(Ordering::SeqCst),
            self.bad.load(Ordering::SeqCst),
        )
    }
}

fn serve(mut conn: TcpStream, bad_response: &[u8], good: &AtomicU64, bad: &AtomicU64) {
    for (n, counter) in [(GOOD, good), (bad_response, bad)] {
        if !read_request(&mut conn) {
            return;
        }
        // Counted before the write: barrage may finish the run as soon as it has
        // the bytes, and the test reads the counts after barrage exits.
        counter.fetch_add(1, Ordering::SeqCst);
        if conn.write_all(n).is_err() {
            return;
        }
    }
    // Dropping the stream closes the connection: for a truncated body that is the
    // end of the response, for a malformed one barrage has closed it already.
}

/// Reads one request head (barrage sends GETs without a body). False at EOF.
fn read_request(conn: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

/// Runs barrage against a scripted server sending `bad_response` second on every
/// connection, and checks every output: results.csv rows, the printed summary,
/// summary.json, and a report made again from results.csv alone. `partial` is what
/// the `partial_status` column must hold for the bad responses.
fn bad_responses_report_status_0(
    name: &str,
    bad_response: &'static [u8],
    kind: &str,
    partial: &str,
) {
    let server = Scripted::start(bad_response);
    let dir = scratch(name);
    let run_dir = dir.join("run");
    let url = server.url();
    // Not asserted to succeed: whether a run with failures exits 0 is another item.
    let out = run_in(
        &[
            &url, "-p", "1", "-t", "1", "-c", "4", "-n", "200", "--columns", "error,partial_status",
        ],
        &run_dir,
    );
    let stdout = text(&out.stdout);
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{name}: {}",
        text(&out.stderr)
    );
    let rows = read_csv(&run_dir.join("results.csv"));
    let (good, bad) = server.counts();
    assert_eq!(rows.len(), 200, "{name}: {stdout}");
    assert_eq!(good + bad, 200, "{name}: every response sent is a row");
    assert!(bad >= 90, "{name}: every second response is bad: {bad}");

    let ok: Vec<&Row> = rows.iter().filter(|r| r.extra[0].is_empty()).collect();
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.extra[0].is_empty()).collect();
    assert_eq!(ok.len() as u64, good, "{name}");
    assert_eq!(failed.len() as u64, bad, "{name}");
    assert!(
        ok.iter().all(|r| r.status == 200 && r.extra[1].is_empty()),
        "{name}: {:?}",
        ok.first()
    );
    for r in &failed {
        assert_eq!(r.extra[0], kind, "{name}: {r:?}");
        assert_eq!(r.status, 0, "{name}: no complete response: {r:?}");
        assert_eq!(r.extra[1], partial, "{name}: the status line it saw: {r:?}");
    }

    // The summary's status table counts the complete responses only.
    let status_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("status"))
        .unwrap_or_else(|| panic!("{name}: no status line in {stdout}"));
    assert!(
        status_line.contains(&format!("200: {good}")),
        "{name}: {status_line:?} (good {good}, bad {bad})"
    );
    assert!(stdout.contains(kind), "{name}: {stdout}");

    let summary = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let check_json = |json: serde_json::Value, from: &str, kind: &str| {
        assert_eq!(
            json["status"],
            serde_json::json!({ "200": good }),
            "{name} ({from})"
        );
        assert_eq!(json["requests"]["errors"], bad, "{name} ({from})");
        assert_eq!(json["errors_by_kind"][kind], bad, "{name} ({from})");
    };
    check_json(summary(&run_dir.join("summary.json")), "run", kind);

    // A report made from results.csv alone (no sample files, no header: the seed's
    // three columns) agrees, its failures known only by their status 0.
    let csv_dir = dir.join("csv");
    std::fs::create_dir_all(&csv_dir).unwrap();
    let csv = csv_dir.join("results.csv");
    std::fs::copy(run_dir.join("results.csv"), &csv).unwrap();
    assert_ok(&barrage(&["report", p(&csv)]));
    check_json(
        summary(&csv_dir.join("summary.json")),
        "results.csv",
        "failed (status 0)",
    );
}

/// The issue's case: `Content-Length: 100`, then the connection closes after 10 bytes.
#[test]
fn issue_12_truncated_body_is_status_0() {
    bad_responses_report_status_0(
        "truncated",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        "closed mid-response",
        "200",
    );
}

/// A chunk-size line that is not hex.
#[test]
fn issue_12_malformed_chunk_line_is_status_0() {
    bad_responses_report_status_0(
        "bad-chunk",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        "malformed response",
        "200",
    );
}

/// Item 5 end to end: a chunk size followed by junk, and both framings at once, are
/// malformed (barrage accepted both before).
#[test]
fn issue_12_strict_framing_end_to_end() {
    bad_responses_report_status_0(
        "chunk-junk",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 junk\r\nab\r\n0\r\n\r\n",
        "malformed response",
        "200",
    );
    bad_responses_report_status_0(
        "cl-and-te",
        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        "malformed response",
        // The head itself is malformed: no status line was accepted.
        "",
    );
}
