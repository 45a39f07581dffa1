//! nginx for the tests that check barrage against a real third-party server: the
//! binary (or why a test is skipped), a configuration around the test's own `http`
//! block, the process started in the test's scratch directory and stopped (SIGTERM,
//! so the master takes its worker along) when dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{nix_kill, wait_for};

/// A free loopback port (bound and released; nginx binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx's binary; `None`, after saying the test is skipped, where it is not installed
/// (a failure under BARRAGE_REQUIRE_NGINX=1, which scripts/test.sh sets).
pub fn nginx_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var_os("BARRAGE_REQUIRE_NGINX").is_some() {
            panic!("nginx is not installed: run scripts/test.sh, which installs it");
        }
        eprintln!("SKIPPED: nginx is not installed (scripts/test.sh installs it)");
    }
    found
}

/// A whole configuration: one worker in the foreground, its pid, logs and temporary
/// files under `dir`, and `http` (the directives and servers inside `http { }`).
pub fn nginx_conf(dir: &Path, http: &str) -> String {
    let d = dir.display();
    format!(
        r#"
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type text/plain;
{http}
}}
"#
    )
}

/// A running nginx, stopped when dropped.
pub struct NginxProcess {
    child: Child,
}

impl NginxProcess {
    /// Writes `conf` to DIR/nginx.conf, starts `bin` on it with DIR as its prefix, and
    /// waits until 127.0.0.1:`port` accepts connections.
    pub fn start(bin: &Path, dir: &Path, conf: &str, port: u16) -> NginxProcess {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let n = NginxProcess { child };
        wait_for("nginx to listen", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        n
    }
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        nix_kill(self.child.id(), libc::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
