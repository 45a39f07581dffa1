//! Helpers shared by the integration tests: start `barrage serve` on a free loopback
//! port, run `barrage`, read results.csv and sample files back.
#![allow(dead_code)]

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
        let addr = line
            .trim()
            .strip_prefix("barrage serve: listening on http://")
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and returns (requests, connections) it served.
    pub fn stop(mut self) -> (u64, u64) {
        nix_kill(self.child.id(), libc::SIGTERM);
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = self.child.wait();
        let line = out
            .lines()
            .find(|l| l.contains("served"))
            .unwrap_or_else(|| panic!("no count in {out:?}"));
        let nums: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        (nums[0], nums[1])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn nix_kill(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a child we spawned.
    unsafe {
        libc::kill(pid as i32, sig);
    }
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
