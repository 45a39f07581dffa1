//! Helpers shared by the integration tests: start `barrage serve` on a free loopback
//! port, run `barrage` (and `barrage run` into a directory, checking it succeeded),
//! read results.csv and sample files back.
#![allow(dead_code)]

pub mod nginx;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_barrage")
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("barrage-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `barrage serve`.
pub struct Server {
    child: Child,
    pub addr: String,
    pub scheme: String,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn barrage serve");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let rest = line
            .trim()
            .strip_prefix("barrage serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let (scheme, rest) = rest.split_once("://").unwrap();
        let addr = rest.split('/').next().unwrap().to_string();
        Server {
            child,
            addr,
            scheme: scheme.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// The `localhost` form of the URL (for name verification).
    pub fn url_localhost(&self, path: &str) -> String {
        let port = self.addr.rsplit(':').next().unwrap();
        format!("{}://localhost:{port}{path}", self.scheme)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server and returns (requests, connections) it served.
    pub fn stop(self) -> (u64, u64) {
        let c = self.stop_counts();
        (c[0], c[1])
    }

    /// Stops the server and returns everything it printed after starting.
    pub fn stop_output(mut self) -> String {
        nix_kill(self.child.id(), libc::SIGTERM);
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = self.child.wait();
        out
    }

    /// Stops the server and returns every number of its last line: requests,
    /// connections, and with --tls full and resumed handshakes.
    pub fn stop_counts(self) -> Vec<u64> {
        let out = self.stop_output();
        let line = out
            .lines()
            .find(|l| l.contains("served"))
            .unwrap_or_else(|| panic!("no count in {out:?}"));
        line.split_whitespace()
            .filter_map(|w| w.trim_start_matches('(').parse().ok())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends signal `sig` (a `libc::SIG*` number) to process `pid`, ignoring failure (the
/// process may have exited already).
pub fn nix_kill(pid: u32, sig: i32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let sig = Signal::try_from(sig).expect("a valid signal number");
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

/// Runs `barrage` with `args` to completion.
pub fn barrage(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run barrage")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Asserts that `barrage` succeeded, showing its exit code and output if not;
/// returns its stdout.
pub fn assert_ok(out: &Output) -> String {
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "barrage failed ({:?}): {stdout}{}",
        out.status.code(),
        text(&out.stderr)
    );
    stdout
}

/// Runs `barrage run ARGS... -o DIR` to completion.
pub fn run_in(args: &[&str], dir: &Path) -> Output {
    Command::new(bin())
        .arg("run")
        .args(args)
        .args(["-o", p(dir)])
        .output()
        .expect("run barrage")
}

/// Runs `barrage run ARGS... -o DIR`, which must succeed; returns its output and the
/// rows of DIR/results.csv.
pub fn run_ok(args: &[&str], dir: &Path) -> (Output, Vec<Row>) {
    let out = run_in(args, dir);
    assert!(
        out.status.success(),
        "barrage run {args:?} failed ({:?}): {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    (out, read_csv(&dir.join("results.csv")))
}

/// Runs `barrage run ARGS... -o DIR`, where every request is meant to fail: the run
/// must end normally with exit code 5 (no request succeeded); returns its output
/// and the rows of DIR/results.csv.
pub fn run_all_fail(args: &[&str], dir: &Path) -> (Output, Vec<Row>) {
    let out = run_in(args, dir);
    assert_eq!(
        out.status.code(),
        Some(5),
        "barrage run {args:?}: want exit code 5 (no request succeeded): {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("barrage: no request succeeded: "),
        "{}",
        text(&out.stderr)
    );
    (out, read_csv(&dir.join("results.csv")))
}

/// One results.csv row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub elapsed: f64,
    pub response_time: f64,
    pub status: u16,
    pub extra: Vec<String>,
}

pub fn read_csv(path: &Path) -> Vec<Row> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with("elapsed"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                elapsed: f[0].parse().unwrap(),
                response_time: f[1].parse().unwrap(),
                status: f[2].parse().unwrap(),
                extra: f[3..].iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect()
}

/// A run directory's summary.json, parsed.
pub fn summary_json(dir: &Path) -> serde_json::Value {
    let path = dir.join("summary.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Valid records in one sample file, read independently of the merge code.
pub fn count_valid_records(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes[4096..]
        .chunks_exact(32)
        .filter(|r| r[31] & 0x80 != 0)
        .count() as u64
}

/// PIDs of `pid`'s direct children.
pub fn children_of(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Files of a test PKI: a CA, and a leaf for localhost/127.0.0.1/::1 signed by it.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A second key that matches nothing.
    pub other_key: PathBuf,
    /// A client certificate and key signed by the same CA (for mTLS).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

pub fn make_pki(dir: &Path) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "barrage test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["barrage-client".into()]).unwrap();
    client_params
        .distinguished_name
        .push(DnType::CommonName, "barrage-client");
    let client = client_params.signed_by(&client_key, &ca).unwrap();
    let p = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        other_key: dir.join("other-key.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client-key.pem"),
    };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.cert, leaf.pem()).unwrap();
    std::fs::write(&p.key, leaf_key.serialize_pem()).unwrap();
    std::fs::write(&p.other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    std::fs::write(&p.client_cert, client.pem()).unwrap();
    std::fs::write(&p.client_key, client_key.serialize_pem()).unwrap();
    p
}

/// Counts of each value of extra column `col` (0-based among the extra columns).
pub fn column_counts(rows: &[Row], col: usize) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in rows {
        *m.entry(r.extra[col].clone()).or_insert(0) += 1;
    }
    m
}

/// Held by tests whose assertions depend on timing (rates, ramps), so they do not
/// compete with each other for the machine's cores.
pub fn timing_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `barrage args`, which must be refused before any load: a non-zero exit,
/// `want` in the error, no panic, no load started, and our own errors (exit 1) in
/// one line. Returns the error text.
pub fn assert_refused(args: &[&str], want: &str) -> String {
    let out = barrage(args);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(want), "{args:?}: want {want:?} in {err:?}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        !text(&out.stdout).contains("requests "),
        "{args:?} started a load"
    );
    if out.status.code() == Some(1) {
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err:?}"
        );
    }
    err
}

/// A self-signed certificate made the way most people make one, with exactly
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30
/// -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`: it has
/// `CA:TRUE` (OpenSSL's default for -x509). Returns (certificate, key) paths.
pub fn openssl_self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-keyout",
            p(&key),
            "-out",
            p(&cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .output()
        .expect("run openssl (scripts/test.sh installs it)");
    assert!(out.status.success(), "openssl: {}", text(&out.stderr));
    (cert, key)
}

/// Like [`openssl_self_signed`] (self-signed, CA:TRUE, localhost and 127.0.0.1), but
/// valid only from 2020-01-01 to 2020-02-01: expired. Made with rcgen, since the
/// OpenSSL here (3.0) cannot backdate a certificate.
pub fn expired_self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, date_time_ymd};
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2020, 2, 1);
    let cert = params.self_signed(&key).unwrap();
    let paths = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    paths
}
