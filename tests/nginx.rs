//! barrage against a real third-party server: nginx on loopback, started by the test
//! with its own configuration. Counts are checked against nginx's stub_status.
//!
//! Needs `nginx` (scripts/test.sh installs it). Without it these tests print why and
//! pass, unless BARRAGE_REQUIRE_NGINX=1 (set by scripts/test.sh), where they fail.

mod common;

use common::nginx::*;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

struct Nginx {
    _process: NginxProcess,
    pub http: u16,
    /// Plain HTTP with a 300 ms keep-alive timeout: nginx closes idle connections.
    pub idle: u16,
    pub https: u16,
    pub mtls: u16,
    pub pki: Pki,
    pub dir: PathBuf,
    /// Ports of the extra HTTPS servers of `start_with`, in the order given.
    pub extra: Vec<u16>,
}

impl Nginx {
    /// Starts nginx, or returns None (after saying why) when it is not installed.
    fn start(name: &str) -> Option<Nginx> {
        Self::start_with(name, &[])
    }

    /// [`Nginx::start`], plus one HTTPS server for each (certificate, key) pair.
    fn start_with(name: &str, certs: &[(PathBuf, PathBuf)]) -> Option<Nginx> {
        let bin = nginx_binary()?;
        let dir = scratch(&format!("nginx-{name}"));
        let pki = make_pki(&dir);
        let (http, https, mtls, idle) = (free_port(), free_port(), free_port(), free_port());
        std::fs::write(
            dir.join("body.txt"),
            "the quick brown fox jumps over the lazy dog\n".repeat(200),
        )
        .unwrap();
        let d = dir.display();
        let extra: Vec<u16> = certs.iter().map(|_| free_port()).collect();
        let extra_servers: String = certs
            .iter()
            .zip(&extra)
            .map(|((cert, key), port)| {
                format!(
                    "server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {}; ssl_certificate_key {}; location / {{ return 200 \"ok\\n\"; }} }}\n",
                    cert.display(),
                    key.display()
                )
            })
            .collect();
        let servers = format!(
            r#"
    access_log off;
    keepalive_requests 1000000;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 0;
    server {{
        listen 127.0.0.1:{http};
        location = /status {{ stub_status; }}
        location = /body.txt {{ root {d}; }}
        location = /teapot {{ return 418 "short and stout\n"; }}
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{idle};
        keepalive_timeout 300ms;
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{https} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:1m;
        ssl_session_tickets on;
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{mtls} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate {ca};
        ssl_verify_client on;
        location / {{ return 200 "hello $ssl_client_s_dn\n"; }}
    }}
    {extra_servers}"#,
            cert = pki.cert.display(),
            key = pki.key.display(),
            ca = pki.ca.display(),
        );
        let process = NginxProcess::start(&bin, &dir, &nginx_conf(&dir, &servers), http);
        Some(Nginx {
            _process: process,
            http,
            idle,
            https,
            mtls,
            pki,
            dir,
            extra,
        })
    }

    /// (accepted connections, requests) from stub_status. The status request itself
    /// adds one connection and one request.
    fn status(&self) -> (u64, u64) {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        let line = body
            .lines()
            .skip_while(|l| !l.contains("server accepts"))
            .nth(1)
            .unwrap();
        let n: Vec<u64> = line
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        (n[0], n[2])
    }
}

#[test]
fn plain_keepalive_counts_match_nginx() {
    let Some(n) = Nginx::start("plain") else {
        return;
    };
    let (a0, r0) = n.status();
    let url = format!("http://127.0.0.1:{}/", n.http);
    let (_, rows) = run_ok(
        &[&url, "-p", "2", "-t", "2", "-c", "16", "-d", "1s"],
        &n.dir.join("run"),
    );
    let (a1, r1) = n.status();
    assert!(rows.len() > 100);
    assert_eq!(
        rows.len() as u64,
        r1 - r0 - 1,
        "rows = requests nginx counted"
    );
    assert_eq!(a1 - a0 - 1, 16, "16 keep-alive connections");
    assert!(rows.iter().all(|r| r.status == 200));
}

#[test]
fn https_keepalive_and_per_request_connections_match_nginx() {
    let Some(n) = Nginx::start("https") else {
        return;
    };
    let url = format!("https://localhost:{}/", n.https);
    let ca = p(&n.pki.ca);
    let (a0, r0) = n.status();
    let (out, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "2", "-c", "8", "-d", "1s", "--cacert", ca,
        ],
        &n.dir.join("ka"),
    );
    let stdout = text(&out.stdout);
    let (a1, r1) = n.status();
    assert_eq!(rows.len() as u64, r1 - r0 - 1);
    assert_eq!(a1 - a0 - 1, 8);
    assert!(stdout.contains("TLSv1.3"), "{stdout}");
    for (resume, resumed_expected) in [("off", false), ("on", true)] {
        let (a0, r0) = n.status();
        let (out, rows) = run_ok(
            &[
                &url, "-p", "1", "-t", "1", "-c", "4", "-n", "200", "--no-keepalive",
                "--tls-resume", resume, "--cacert", ca, "--columns", "resumed",
            ],
            &n.dir.join(format!("close-{resume}")),
        );
        let stdout = text(&out.stdout);
        let (a1, r1) = n.status();
        assert_eq!(rows.len(), 200);
        assert_eq!(r1 - r0 - 1, 200, "nginx saw every request");
        assert_eq!(a1 - a0 - 1, 200, "nginx accepted a connection per request");
        let resumed = rows.iter().filter(|r| r.extra[0] == "1").count();
        if resumed_expected {
            assert!(
                resumed > 150,
                "resumption on: {resumed} of 200 resumed\n{stdout}"
            );
        } else {
            assert_eq!(resumed, 0, "resumption off");
        }
    }
}

#[test]
fn mutual_tls_against_nginx() {
    let Some(n) = Nginx::start("mtls") else {
        return;
    };
    let url = format!("https://localhost:{}/", n.mtls);
    let (ca, cert, key) = (p(&n.pki.ca), p(&n.pki.client_cert), p(&n.pki.client_key));
    // Without a client certificate nginx answers 400 ("No required SSL certificate").
    let (_, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "2", "-n", "10", "--cacert", ca,
        ],
        &n.dir.join("nocert"),
    );
    assert!(rows.iter().all(|r| r.status == 400), "{rows:?}");
    let (_, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "2", "-n", "10", "--cacert", ca, "--cert", cert,
            "--key", key,
        ],
        &n.dir.join("cert"),
    );
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.status == 200), "{rows:?}");
}

#[test]
fn verification_against_nginx() {
    let Some(n) = Nginx::start("verify") else {
        return;
    };
    let url = format!("https://127.0.0.1:{}/", n.https);
    let ca = p(&n.pki.ca);
    let (_, rows) = run_all_fail(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "-n", "5", "--sni", "wrong.example", "--cacert",
            ca, "--columns", "error",
        ],
        &n.dir.join("a"),
    );
    assert!(
        rows.iter().all(|r| r.extra[0] == "tls: name mismatch"),
        "{rows:?}"
    );
    let (_, rows) = run_all_fail(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "-n", "5", "--columns", "error",
        ],
        &n.dir.join("b"),
    );
    assert!(
        rows.iter().all(|r| r.extra[0] == "tls: unknown issuer"),
        "{rows:?}"
    );
    let (_, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "-n", "5", "-k", "--columns", "error",
        ],
        &n.dir.join("c"),
    );
    assert!(
        rows.iter()
            .all(|r| r.status == 200 && r.extra[0].is_empty()),
        "{rows:?}"
    );
}

#[test]
fn gzip_chunked_bodies_from_nginx_frame_correctly() {
    let Some(n) = Nginx::start("chunked") else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/body.txt", n.http);
    let (r0, r0req) = n.status();
    let (_, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "4", "-n", "400", "-H", "Accept-Encoding: gzip",
            "--columns", "bytes,error",
        ],
        &n.dir.join("gz"),
    );
    let (r1, r1req) = n.status();
    assert_eq!(rows.len(), 400);
    assert_eq!(r1req - r0req - 1, 400);
    assert_eq!(
        r1 - r0 - 1,
        4,
        "chunked responses kept the connections alive"
    );
    assert!(
        rows.iter()
            .all(|r| r.status == 200 && r.extra[1].is_empty()),
        "{:?}",
        &rows[..2]
    );
}

#[test]
fn response_checks_against_nginx() {
    let Some(n) = Nginx::start("expect") else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", n.http);
    let targets = n.dir.join("targets.txt");
    std::fs::write(
        &targets,
        format!("GET {base}/teapot\n\nGET {base}/ weight=2\n\nGET {base}/body.txt expect-body=lazy%20dog expect-size=8800\n"),
    )
    .unwrap();
    let targets = p(&targets);
    let (r0, q0) = n.status();
    let (_, rows) = run_ok(
        &[
            "--targets", targets, "-p", "1", "-t", "1", "-c", "2", "-n", "400", "--expect-status",
            "200", "--columns", "target,error",
        ],
        &n.dir.join("run"),
    );
    let (_, q1) = n.status();
    let _ = r0;
    assert_eq!(q1 - q0 - 1, 400);
    let bad: Vec<&Row> = rows.iter().filter(|r| !r.extra[1].is_empty()).collect();
    assert_eq!(bad.len(), 100, "the teapot's quarter");
    assert!(
        bad.iter()
            .all(|r| r.status == 418 && r.extra[0] == "0" && r.extra[1] == "unexpected status")
    );
    // body.txt (200 x 44 bytes) passes its own body and size checks.
    assert!(
        rows.iter()
            .filter(|r| r.extra[0] == "2")
            .all(|r| r.extra[1].is_empty())
    );
}

#[test]
fn idle_keepalive_closes_by_nginx_are_not_errors() {
    let Some(n) = Nginx::start("idle") else {
        return;
    };
    // Each connection waits 500 ms between requests; nginx closes it after 300 ms.
    let url = format!("http://127.0.0.1:{}/", n.idle);
    let (out, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "4", "--interval", "500ms", "-d", "2s", "--columns",
            "error,new_conn",
        ],
        &n.dir.join("run"),
    );
    let stdout = text(&out.stdout);
    assert!(rows.len() >= 12, "{}", rows.len());
    assert!(
        rows.iter()
            .all(|r| r.status == 200 && r.extra[0].is_empty()),
        "no failures: {rows:?}"
    );
    assert!(
        rows.iter().filter(|r| r.extra[1] == "1").count() > 4,
        "reconnected after idle closes"
    );
    let closed: u64 = stdout
        .lines()
        .find(|l| l.contains("closed idle by the server"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|w| w.split_whitespace().next())
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    assert!(closed > 0, "summary counts the idle closes: {stdout}");
}

#[test]
fn tls_alert_from_nginx_is_its_own_kind() {
    let Some(n) = Nginx::start("alert") else {
        return;
    };
    // nginx 1.22 on OpenSSL 3.0 has no ML-KEM: offering only that group makes it
    // abort the handshake with an alert.
    let url = format!("https://localhost:{}/", n.https);
    let (out, rows) = run_all_fail(
        &[
            &url, "-p", "1", "-t", "1", "-c", "1", "-n", "3", "-k", "--kx-group", "X25519MLKEM768",
            "--columns", "error",
        ],
        &n.dir.join("run"),
    );
    let stdout = text(&out.stdout);
    assert!(
        rows.iter()
            .all(|r| r.status == 0 && r.extra[0] == "tls: alert received"),
        "{rows:?}\n{stdout}"
    );
    // The summary names the alert and what it usually means (issue 12, item 4).
    let stdout = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        stdout.contains("the server ended the handshake with alert HandshakeFailure: no TLS version, cipher suite or key-exchange group in common"),
        "{stdout}"
    );
}

/// Issue 12, item 3: the self-signed certificate `openssl req -x509` makes is a CA
/// certificate (CA:TRUE), which webpki refused as the server's own, so
/// `--cacert cert.pem` failed every request where curl accepts it. Given with
/// --cacert it is now pinned: accepted for the names it holds while it is valid,
/// refused for another name or once expired; another self-signed certificate is
/// still an unknown issuer.
#[test]
fn issue12_openssl_self_signed_certificate_is_trusted_with_cacert() {
    let certs = scratch("nginx-pinned-certs");
    let mine = openssl_self_signed(&certs, "mine");
    let (other, _) = openssl_self_signed(&certs, "other");
    let expired = expired_self_signed(&certs, "expired");
    let Some(n) = Nginx::start_with("pinned", &[mine.clone(), expired.clone()]) else {
        return;
    };
    let (port, expired_port) = (n.extra[0], n.extra[1]);
    let cacert = p(&mine.0);
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{port}/");
        let (_, r0) = n.status();
        let (_, rows) = run_ok(
            &[
                &url, "-p", "1", "-t", "1", "-c", "2", "-n", "20", "--cacert", cacert, "--columns",
                "error",
            ],
            &n.dir.join(format!("ok-{host}")),
        );
        let (_, r1) = n.status();
        assert_eq!(rows.len(), 20);
        assert_eq!(r1 - r0 - 1, 20, "nginx served every request");
        assert!(
            rows.iter()
                .all(|r| r.status == 200 && r.extra[0].is_empty()),
            "{host}: {rows:?}"
        );
    }
    let url = format!("https://localhost:{port}/");
    let (other, expired_ca) = (p(&other), p(&expired.0));
    let expired_url = format!("https://localhost:{expired_port}/");
    let cases: [(&str, &str, Vec<&str>, &str); 4] = [
        (
            "sni",
            &url,
            vec!["--cacert", cacert, "--sni", "other.example"],
            "tls: name mismatch",
        ),
        (
            "other",
            &url,
            vec!["--cacert", other],
            "tls: unknown issuer",
        ),
        ("none", &url, vec![], "tls: unknown issuer"),
        (
            "expired",
            &expired_url,
            vec!["--cacert", expired_ca],
            "tls: expired",
        ),
    ];
    for (name, url, extra, want) in cases {
        let args = [
            &[
                url, "-p", "1", "-t", "1", "-c", "1", "-n", "5", "--columns", "error",
            ][..],
            &extra,
        ]
        .concat();
        let (out, rows) = run_all_fail(&args, &n.dir.join(name));
        let stdout = text(&out.stdout);
        assert_eq!(rows.len(), 5, "{name}");
        assert!(
            rows.iter().all(|r| r.status == 0 && r.extra[0] == want),
            "{name}: want {want}: {rows:?}\n{stdout}"
        );
    }
}
