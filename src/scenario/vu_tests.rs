//! Tests of `vu.rs` and `request.rs`: a virtual user through the shipped example,
//! request bytes exactly, captures and cookies carried between steps, failures and
//! think times, data rows per iteration.

use std::path::Path;

use super::*;
use crate::scenario::error::Source;
use crate::scenario::set::LoadOptions;

const UA: &str = concat!("User-Agent: barrage/", env!("CARGO_PKG_VERSION"));

fn shop() -> ScenarioSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.toml");
    ScenarioSet::load(&path, &LoadOptions::default()).unwrap()
}

fn set(text: &str) -> ScenarioSet {
    let src = Source {
        name: "t.toml".into(),
        text: text.into(),
    };
    ScenarioSet::compile(&src, Path::new("."), &LoadOptions::default()).unwrap()
}

fn render(vu: &mut Vu, set: &ScenarioSet) -> String {
    let mut out = Vec::new();
    vu.render(set, 1_700_000_000_000, &mut out);
    String::from_utf8(out).unwrap()
}

fn ok<'a>(head: &'a str, body: &'a str) -> Response<'a> {
    Response {
        kind: ErrorKind::None,
        status: 200,
        head: head.as_bytes(),
        body: body.as_bytes(),
    }
}

/// The buy scenario of examples/shop.toml, step by step.
#[test]
fn a_user_buys_through_the_example() {
    let set = shop();
    let mut cursor = set.cursor(0, 1).unwrap();
    let mut vu = Vu::new(&set, 1, 42);
    // Find an iteration that picks "buy" (3 in 4 do).
    loop {
        vu.start_iteration(&set, cursor.as_mut(), 5_000);
        if vu.scenario() == 0 {
            break;
        }
    }
    let row = vu.iteration - 1; // one row per iteration, in turn
    let user = ["alice", "bob", "carol", "dave", "erin"][row as usize];
    assert_eq!(vu.step(), 0);
    assert_eq!(
        render(&mut vu, &set),
        format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n{UA}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\nuser={user}&password={user}-secret",
            "user=&password=-secret".len() + 2 * user.len()
        )
    );
    let login = ok(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: sid=s-1; Path=/; HttpOnly\r\n\r\n",
        r#"{"token": "t 1/x", "user": "alice"}"#,
    );
    let f = vu.finish(&set, login, 10_000, 1_700_000_000_000);
    assert_eq!(
        f,
        Finished {
            kind: ErrorKind::None,
            next: Next::Step { at_ns: 10_000 }
        }
    );
    assert_eq!(vu.step(), 1);
    assert_eq!(vu.slot(3), b"t 1/x");
    assert_eq!(vu.slot(2), b"s-1");
    // The token goes into the path percent-encoded where it must be; the cookie back.
    assert_eq!(
        render(&mut vu, &set),
        format!(
            "GET /items?token=t%201/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n{UA}\r\nCookie: sid=s-1\r\n\r\n"
        )
    );
    let items = ok(
        "HTTP/1.1 200 OK\r\n\r\n",
        r#"{"items": [{"id": 17, "name": "tea"}, {"id": 42}]}"#,
    );
    let f = vu.finish(&set, items, 20_000, 1_700_000_000_000);
    let Next::Step { at_ns } = f.next else {
        panic!("{f:?}")
    };
    assert!(
        (20_000 + 100_000_000..=20_000 + 300_000_000).contains(&at_ns),
        "think: {at_ns}"
    );
    assert_eq!(
        render(&mut vu, &set),
        format!(
            "POST /checkout HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n{UA}\r\nAuthorization: Bearer t 1/x\r\nContent-Type: application/json\r\nCookie: sid=s-1\r\nContent-Length: 12\r\n\r\n{{\"item\": 17}}"
        )
    );
    let f = vu.finish(
        &set,
        ok("HTTP/1.1 201 Created\r\n\r\n", "{}"),
        30_000,
        1_700_000_000_000,
    );
    assert_eq!(
        f.next,
        Next::Done {
            outcome: Outcome::Completed,
            started_ns: 5_000,
            at_ns: 30_000
        }
    );
    // The next iteration starts clean: no captures, no cookies, the next row.
    vu.start_iteration(&set, cursor.as_mut(), 40_000);
    assert!(vu.slot(2).is_empty() && vu.slot(3).is_empty());
    let next_user = ["alice", "bob", "carol", "dave", "erin", "frank"][row as usize + 1];
    assert_eq!(vu.slot(0), next_user.as_bytes());
    assert!(!render(&mut vu, &set).contains("Cookie"));
}

const TWO: &str = r#"
base = "http://h:81"
[[scenario]]
name = "s"
[[scenario.step]]
name = "a"
path = "/a"
capture = { t = { json = "/t" } }
think = "1ms"
[[scenario.step]]
name = "b"
path = "/b/{{t}}"
"#;

/// A capture that finds nothing fails its step as "capture failed" and ends the
/// iteration, failed at that step.
#[test]
fn a_failed_capture_ends_the_iteration() {
    let set = set(TWO);
    let mut vu = Vu::new(&set, 3, 1);
    vu.start_iteration(&set, None, 0);
    let f = vu.finish(&set, ok("HTTP/1.1 200 OK\r\n\r\n", r#"{"x": 1}"#), 100, 0);
    assert_eq!(f.kind, ErrorKind::CaptureFailed);
    assert_eq!(
        f.next,
        Next::Done {
            outcome: Outcome::Failed {
                step: 0,
                kind: ErrorKind::CaptureFailed
            },
            started_ns: 0,
            at_ns: 1_000_100, // think time follows a failed step too
        }
    );
}

/// `on_error = "continue"` goes on; the iteration still ends failed at its first
/// failed step. A transport failure applies no capture and stores no cookie; a failed
/// check on a complete response stores its cookies but captures nothing.
#[test]
fn continue_after_errors() {
    let text = TWO.replace("think = \"1ms\"", "on_error = \"continue\"")
        + "on_error = \"continue\"\n[[scenario.step]]\nname = \"c\"\npath = \"/c\"\non_error = \"continue\"\n";
    let set = set(&text);
    let mut vu = Vu::new(&set, 1, 1);
    vu.start_iteration(&set, None, 0);
    let reset = Response {
        kind: ErrorKind::Reset,
        status: 0,
        head: b"",
        body: b"",
    };
    let f = vu.finish(&set, reset, 10, 0);
    assert_eq!(
        f,
        Finished {
            kind: ErrorKind::Reset,
            next: Next::Step { at_ns: 10 }
        }
    );
    assert_eq!(
        render(&mut vu, &set),
        format!("GET /b/ HTTP/1.1\r\nHost: h:81\r\n{UA}\r\n\r\n")
    );
    let failed_check = Response {
        kind: ErrorKind::UnexpectedStatus,
        status: 500,
        head: b"HTTP/1.1 500 Oops\r\nSet-Cookie: a=1; Path=/\r\n\r\n",
        body: b"",
    };
    let f = vu.finish(&set, failed_check, 20, 0);
    assert_eq!(
        f,
        Finished {
            kind: ErrorKind::UnexpectedStatus,
            next: Next::Step { at_ns: 20 }
        }
    );
    assert!(render(&mut vu, &set).contains("\r\nCookie: a=1\r\n"));
    let f = vu.finish(&set, ok("HTTP/1.1 200 OK\r\n\r\n", ""), 30, 0);
    assert_eq!(f.kind, ErrorKind::None);
    assert_eq!(
        f.next,
        Next::Done {
            outcome: Outcome::Failed {
                step: 0,
                kind: ErrorKind::Reset
            },
            started_ns: 0,
            at_ns: 30
        }
    );
}

/// Built-ins, bodies, a step's own Cookie header joined with the jar's, Host and
/// User-Agent given by the step, and cookies = false.
#[test]
fn request_bytes() {
    let set = set(r#"
base = "https://example.test"
[[scenario]]
name = "s"
[[scenario.step]]
name = "a"
method = "PUT"
path = "/u-{{vu}}-{{iteration}}?t={{now_ms}}"
headers = { Cookie = "pre=1", Host = "other", "User-Agent" = "me", "X-Id" = "{{uuid}}" }
[[scenario.step]]
name = "b"
method = "DELETE"
path = "/r"
body = "{{random 7..7}}"
[[scenario]]
name = "nojar"
weight = 10000
cookies = false
[[scenario.step]]
name = "a"
path = "/"
"#);
    let mut vu = Vu::new(&set, 12, 9);
    while vu.scenario() != 0 || vu.iteration == 0 {
        vu.start_iteration(&set, None, 0);
    }
    let it = vu.iteration;
    let r = render(&mut vu, &set);
    let want_start = format!(
        "PUT /u-12-{it}?t=1700000000000 HTTP/1.1\r\nCookie: pre=1\r\nHost: other\r\nUser-Agent: me\r\nX-Id: "
    );
    assert!(r.starts_with(&want_start), "{r}");
    assert!(
        r.ends_with("\r\nContent-Length: 0\r\n\r\n"),
        "PUT always has a length: {r}"
    );
    let head = "HTTP/1.1 200 OK\r\nSet-Cookie: j=2\r\n\r\n";
    vu.finish(&set, ok(head, ""), 1, 1_700_000_000_000);
    assert_eq!(
        render(&mut vu, &set),
        format!(
            "DELETE /r HTTP/1.1\r\nHost: example.test\r\n{UA}\r\nCookie: j=2\r\nContent-Length: 1\r\n\r\n7"
        )
    );
    // A scenario without a jar sends no cookie it was given.
    let mut other = Vu::new(&set, 1, 1);
    while other.scenario() != 1 {
        other.start_iteration(&set, None, 0);
    }
    assert!(!other.current(&set).keeps_head);
    other.finish(&set, ok(head, ""), 1, 0);
    other.start_iteration(&set, None, 0);
    if other.scenario() == 1 {
        assert_eq!(
            render(&mut other, &set),
            format!("GET / HTTP/1.1\r\nHost: example.test\r\n{UA}\r\n\r\n")
        );
    }
}

/// Two users of one loop take the loop's rows in turn; a user's own iterations count
/// from 1.
#[test]
fn users_of_a_loop_share_its_rows() {
    let set = shop();
    let mut cursor = set.cursor(1, 4).unwrap();
    let mut a = Vu::new(&set, 1, 1);
    let mut b = Vu::new(&set, 2, 1);
    let mut users = Vec::new();
    for _ in 0..3 {
        for vu in [&mut a, &mut b] {
            vu.start_iteration(&set, cursor.as_mut(), 0);
            users.push(String::from_utf8(vu.slot(0).to_vec()).unwrap());
        }
    }
    // Loop 1 of 4 owns rows 1, 5, 9, 13, 17 of 20.
    assert_eq!(users, ["bob", "frank", "judy", "peggy", "victor", "bob"]);
    assert_eq!((a.iteration, b.iteration), (3, 3));
    assert!(
        set.cursor(20, 21).is_err(),
        "20 rows cannot serve 21 loops in sequence"
    );
}
