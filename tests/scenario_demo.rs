//! The scenario library (issue 13 part A: compiled file, templates, captures, data
//! rows, cookie jar, per-user state) driven over real loopback sockets against
//! `barrage serve`'s demo shop by a small blocking client written here. The engine's
//! own scenario runs (part B) are tested through `barrage run --scenario`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use barrage::record::ErrorKind;
use barrage::scenario::compile::LoadOptions;
use barrage::scenario::set::ScenarioSet;
use barrage::scenario::vu::{Next, Outcome, Response, Vu};
use barrage::wire::expect::Check;
use common::Server;

/// One keep-alive connection: sends a request, reads one response (the demo always
/// answers with Content-Length).
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// (status, head, body).
    fn exchange(&mut self, request: &[u8]) -> (u16, Vec<u8>, Vec<u8>) {
        self.stream.write_all(request).unwrap();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = resp.parse(&self.buf).unwrap() {
                let len: usize = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                    .unwrap();
                if self.buf.len() >= head_len + len {
                    let status = resp.code.unwrap();
                    let head = self.buf[..head_len].to_vec();
                    let body = self.buf[head_len..head_len + len].to_vec();
                    self.buf.drain(..head_len + len);
                    return (status, head, body);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Runs `iterations` iterations for each of `users` virtual users (taking turns, one
/// data cursor as one loop would), every user on its own keep-alive connection, think
/// times skipped. Returns the outcomes and the 2xx `checkout` responses per user.
fn run(
    set: &ScenarioSet,
    addr: &str,
    users: u64,
    iterations: usize,
) -> (Vec<Outcome>, BTreeMap<String, u64>) {
    let mut cursor = set.cursor(0, 1).unwrap();
    let mut vus: Vec<(Vu, Client)> = (1..=users)
        .map(|n| (Vu::new(set, n, 7), Client::connect(addr)))
        .collect();
    let (mut outcomes, mut bought) = (Vec::new(), BTreeMap::new());
    let mut out = Vec::new();
    let mut now = 0u64;
    for _ in 0..iterations {
        for (vu, client) in &mut vus {
            vu.start_iteration(set, cursor.as_mut(), now);
            loop {
                out.clear();
                vu.render(set, 1_700_000_000_000, &mut out);
                let (status, head, body) = client.exchange(&out);
                let step = vu.current(set);
                let kind = match &step.expect {
                    Some(exp) => {
                        let mut check = Check::default();
                        check.feed(exp, &body);
                        check.verdict(exp, status)
                    }
                    None => ErrorKind::None,
                };
                let is_checkout = step.name == "checkout";
                now += 1_000;
                let f = vu.finish(
                    set,
                    Response {
                        kind,
                        status,
                        head: &head,
                        body: &body,
                    },
                    now,
                    1_700_000_000_000,
                );
                if is_checkout && f.kind == ErrorKind::None && (200..300).contains(&status) {
                    let user = String::from_utf8(vu.slot(0).to_vec()).unwrap();
                    *bought.entry(user).or_insert(0) += 1;
                }
                match f.next {
                    Next::Step { .. } => {}
                    Next::Done { outcome, .. } => {
                        outcomes.push(outcome);
                        break;
                    }
                }
            }
        }
    }
    (outcomes, bought)
}

/// `shop: user "alice" checked out 3 times` lines of the server's last words.
fn server_checkouts(out: &str) -> BTreeMap<String, u64> {
    out.lines()
        .filter_map(|l| l.strip_prefix("barrage serve: shop: user \""))
        .map(|l| {
            let (user, rest) = l.split_once("\" checked out ").unwrap();
            (
                user.to_string(),
                rest.split(' ').next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn example(addr: &str) -> ScenarioSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.toml");
    let opts = LoadOptions {
        url: Some(format!("http://{addr}/")),
        ..Default::default()
    };
    ScenarioSet::load(&path, &opts).unwrap()
}

/// examples/shop.toml against the demo: every iteration completes (the session cookie
/// from login goes back, or checkout would answer 403; the token and item captures
/// work, or items and checkout would fail), and the server's per-user checkout counts
/// are exactly the 2xx checkout responses, user by user (sequential rows in turn).
#[test]
fn the_example_buys_what_the_demo_counts() {
    let dir = common::scratch("scenario-demo");
    let capture = dir.join("requests.bin");
    let server = Server::start(&["--capture", common::p(&capture)]);
    let set = example(&server.addr);
    let (outcomes, bought) = run(&set, &server.addr, 3, 14);
    assert_eq!(outcomes.len(), 42);
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Completed),
        "{outcomes:?}"
    );
    let out = server.stop_output();
    let counted = server_checkouts(&out);
    assert!(!counted.is_empty(), "{out}");
    assert_eq!(counted, bought, "{out}");
    // 42 iterations, one row each in turn: all 20 users logged in, 2 or 3 times each.
    let logins: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("barrage serve: shop: "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(logins, 42, "{out}");
    // What was sent: every checkout carried the session cookie and the bearer token.
    let sent = String::from_utf8_lossy(&std::fs::read(&capture).unwrap()).into_owned();
    let checkouts: Vec<&str> = sent.split("POST /checkout ").skip(1).collect();
    assert_eq!(checkouts.len() as u64, bought.values().sum::<u64>());
    for c in checkouts {
        let head = c.split("\r\n\r\n").next().unwrap();
        assert!(
            head.contains("\r\nCookie: sid=") && head.contains("\r\nAuthorization: Bearer "),
            "{head}"
        );
    }
}

/// A capture that finds nothing ends the iteration at that step as "capture failed",
/// against a real response; nothing after it is sent.
#[test]
fn a_failed_capture_stops_the_iteration() {
    let server = Server::start(&[]);
    let dir = common::scratch("scenario-capture");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.csv"),
        dir.join("users.csv"),
    )
    .unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.toml"))
            .unwrap()
            .replace(r#"json = "/token""#, r#"json = "/tokn""#);
    std::fs::write(dir.join("shop.toml"), text).unwrap();
    let opts = LoadOptions {
        url: Some(format!("http://{}/", server.addr)),
        ..Default::default()
    };
    let set = ScenarioSet::load(&dir.join("shop.toml"), &opts).unwrap();
    let (outcomes, bought) = run(&set, &server.addr, 2, 3);
    for o in &outcomes {
        match o {
            Outcome::Failed { step, kind } => {
                assert_eq!(*kind, ErrorKind::CaptureFailed);
                assert_eq!(set.steps[*step as usize].name, "login", "step {step}");
            }
            Outcome::Completed => panic!("an iteration completed: {outcomes:?}"),
        }
    }
    assert!(bought.is_empty());
    let out = server.stop_output();
    assert!(server_checkouts(&out).is_empty(), "{out}");
    assert!(
        out.contains("barrage serve: shop: 6 logins, 0 checkouts"),
        "{out}"
    );
}
