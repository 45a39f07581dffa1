//! rustls's two crypto providers, aws-lc-rs (what barrage uses) and ring, compared on
//! what a load generator pays for: TLS handshakes (full, resumed, TLS 1.2) and record
//! encryption/decryption. Everything runs in memory: the client and the server
//! exchange TLS bytes through two `Vec`s, no sockets, one thread.
//!
//!     cargo bench --bench tls_provider
//!     cargo bench --bench tls_provider -- handshake     # one group
//!
//! Handshakes are timed per side: `client` is `ClientConnection::new` (which makes the
//! key share and the ClientHello) plus the client's `read_tls`/`process_new_packets`/
//! `write_tls` calls, up to and including taking the server's session tickets; `server`
//! is `ServerConnection::new` plus the server's calls. barrage pays only the client
//! side; the server side is what the system under test pays. The certificate is an
//! ECDSA P-256 leaf signed by an ECDSA P-256 CA (as `barrage serve --tls` makes them),
//! verified by the client against that CA, so a full handshake costs the client a
//! chain check (one signature), the CertificateVerify signature and the key exchange.
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall
//! time, so that other work on a shared machine (builds, other benchmarks) inflates
//! them less: a preempted thread accrues no CPU time. The cost of reading the clock is
//! measured at start and subtracted from every timed interval. `BARRAGE_BENCH_WALL=1`
//! times with the wall clock instead.
//!
//! Groups: `handshake/<case>/<provider>/{client,server}` (cases in [`handshakes`]),
//! `bulk_16KiB` and `bulk_200B` (`<provider>/<suite>`, one record per iteration).
//!
//! Results and the reasoning they feed: docs/tls.md, "Crypto provider".

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs, ring};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::ProducesTickets;
use rustls::{
    CipherSuite, ClientConfig, ClientConnection, ConnectionCommon, HandshakeKind, NamedGroup,
    ProtocolVersion, RootCertStore, ServerConfig, ServerConnection, SideData, SupportedCipherSuite,
    SupportedProtocolVersion,
};

/// A point in time on the clock the benchmarks use (see the file's doc comment).
#[derive(Clone, Copy)]
enum Stamp {
    Cpu(Duration),
    Wall(Instant),
}

fn now() -> Stamp {
    static WALL: OnceLock<bool> = OnceLock::new();
    if *WALL.get_or_init(|| std::env::var_os("BARRAGE_BENCH_WALL").is_some_and(|v| v == "1")) {
        return Stamp::Wall(Instant::now());
    }
    use nix::time::{ClockId, clock_gettime};
    let ts = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Stamp::Cpu(Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32))
}

impl Stamp {
    /// Time since this stamp, less what reading the clock itself adds to an interval
    /// (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)` is a system call, about 0.5 µs on the
    /// VM of docs/tls.md, and a handshake side is timed as 4 or 5 intervals).
    fn elapsed(self) -> Duration {
        static OVERHEAD: OnceLock<Duration> = OnceLock::new();
        let overhead = *OVERHEAD.get_or_init(|| {
            let mut v: Vec<Duration> = (0..1001).map(|_| now().raw_elapsed()).collect();
            v.sort_unstable();
            eprintln!(
                "clock read cost subtracted per timed interval: {:?}",
                v[v.len() / 2]
            );
            v[v.len() / 2]
        });
        self.raw_elapsed().saturating_sub(overhead)
    }

    fn raw_elapsed(self) -> Duration {
        match (self, now()) {
            (Stamp::Cpu(a), Stamp::Cpu(b)) => b.saturating_sub(a),
            (Stamp::Wall(a), _) => a.elapsed(),
            (Stamp::Cpu(_), Stamp::Wall(_)) => unreachable!("one clock per run"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Provider {
    AwsLcRs,
    Ring,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::AwsLcRs => "aws-lc-rs",
            Provider::Ring => "ring",
        }
    }

    fn provider(self) -> CryptoProvider {
        match self {
            Provider::AwsLcRs => aws_lc_rs::default_provider(),
            Provider::Ring => ring::default_provider(),
        }
    }

    fn ticketer(self) -> Arc<dyn ProducesTickets> {
        match self {
            Provider::AwsLcRs => aws_lc_rs::Ticketer::new(),
            Provider::Ring => ring::Ticketer::new(),
        }
        .expect("ticketer")
    }

    fn group(self, name: NamedGroup) -> &'static dyn SupportedKxGroup {
        *self
            .provider()
            .kx_groups
            .iter()
            .find(|g| g.name() == name)
            .unwrap_or_else(|| panic!("{} has no {name:?}", self.name()))
    }

    fn suite(self, name: CipherSuite) -> SupportedCipherSuite {
        *self
            .provider()
            .cipher_suites
            .iter()
            .find(|s| s.suite() == name)
            .unwrap_or_else(|| panic!("{} has no {name:?}", self.name()))
    }
}

/// An ECDSA P-256 CA and a leaf for "localhost" signed by it (generated once).
struct Pki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench server");
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf");
    Pki {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        key: PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key der"),
    }
}

/// One side's settings: the provider, narrowed to some groups and suites.
struct Side {
    provider: Provider,
    /// Empty: the provider's defaults.
    groups: Vec<NamedGroup>,
    /// Empty: the provider's defaults.
    suites: Vec<CipherSuite>,
}

impl Side {
    fn crypto(&self) -> Arc<CryptoProvider> {
        let mut p = self.provider.provider();
        if !self.groups.is_empty() {
            p.kx_groups = self
                .groups
                .iter()
                .map(|&g| self.provider.group(g))
                .collect();
        }
        if !self.suites.is_empty() {
            p.cipher_suites = self
                .suites
                .iter()
                .map(|&s| self.provider.suite(s))
                .collect();
        }
        Arc::new(p)
    }
}

/// As `barrage serve --tls` configures its server: TLS 1.3 and 1.2, a session cache
/// and a ticketer, ALPN http/1.1.
fn server_config(pki: &Pki, side: &Side) -> Arc<ServerConfig> {
    let mut c = ServerConfig::builder_with_provider(side.crypto())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("server versions")
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
        .expect("server cert");
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    c.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    c.ticketer = side.provider.ticketer();
    Arc::new(c)
}

/// As `ClientTls::build` + `thread_config` configure a run's client (verifying
/// against the CA), for one TLS version.
fn client_config(
    pki: &Pki,
    side: &Side,
    version: &'static SupportedProtocolVersion,
    resume: bool,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).expect("root");
    let mut c = ClientConfig::builder_with_provider(side.crypto())
        .with_protocol_versions(&[version])
        .expect("client versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    c.resumption = if resume {
        Resumption::in_memory_sessions(256)
    } else {
        Resumption::disabled()
    };
    Arc::new(c)
}

/// Hands everything in `buf` to `conn` and processes it.
fn feed<D: SideData>(conn: &mut ConnectionCommon<D>, buf: &mut Vec<u8>) {
    let mut rd = &buf[..];
    while !rd.is_empty() {
        conn.read_tls(&mut rd).expect("read_tls");
        conn.process_new_packets().expect("process_new_packets");
    }
    buf.clear();
}

/// Takes everything `conn` has to send.
fn drain<D: SideData>(conn: &mut ConnectionCommon<D>, buf: &mut Vec<u8>) {
    while conn.wants_write() {
        conn.write_tls(buf).expect("write_tls");
    }
}

struct Handshake {
    client: ClientConnection,
    server: ServerConnection,
    client_time: Duration,
    server_time: Duration,
}

/// One handshake, to the end of the server's session tickets, each side's calls timed.
fn handshake(cc: &Arc<ClientConfig>, sc: &Arc<ServerConfig>) -> Handshake {
    let name = ServerName::try_from("localhost").expect("name");
    let mut c2s = Vec::with_capacity(4096);
    let mut s2c = Vec::with_capacity(8192);

    let t = now();
    let mut client = ClientConnection::new(Arc::clone(cc), name).expect("client");
    drain(&mut client, &mut c2s);
    let mut client_time = t.elapsed();

    let t = now();
    let mut server = ServerConnection::new(Arc::clone(sc)).expect("server");
    let mut server_time = t.elapsed();

    for _ in 0..10 {
        let t = now();
        feed(&mut server, &mut c2s);
        drain(&mut server, &mut s2c);
        server_time += t.elapsed();

        let t = now();
        feed(&mut client, &mut s2c);
        drain(&mut client, &mut c2s);
        client_time += t.elapsed();

        if c2s.is_empty() && !client.is_handshaking() && !server.is_handshaking() {
            return Handshake {
                client,
                server,
                client_time,
                server_time,
            };
        }
    }
    panic!("handshake did not finish");
}

/// A handshake case: who offers what, and what it must negotiate.
struct Case {
    name: String,
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    kind: HandshakeKind,
}

impl Case {
    /// `suite` is what must be negotiated; its version is the only one the client
    /// offers.
    fn new(
        pki: &Pki,
        name: &str,
        (client, server): (Side, Side),
        resume: bool,
        group: NamedGroup,
        suite: CipherSuite,
    ) -> Case {
        let version = match client.provider.suite(suite).version().version {
            ProtocolVersion::TLSv1_3 => &rustls::version::TLS13,
            _ => &rustls::version::TLS12,
        };
        Case {
            name: format!("{name}/{}", client.provider.name()),
            client: client_config(pki, &client, version, resume),
            server: server_config(pki, &server),
            kind: if resume {
                HandshakeKind::Resumed
            } else {
                HandshakeKind::Full
            },
        }
        .checked(group, suite)
    }

    /// Primes the ticket cache (resumed cases), then checks what is negotiated.
    fn checked(self, group: NamedGroup, suite: CipherSuite) -> Case {
        handshake(&self.client, &self.server);
        let h = handshake(&self.client, &self.server);
        let n = &self.name;
        assert_eq!(h.client.handshake_kind(), Some(self.kind), "{n}");
        let got = h.client.negotiated_key_exchange_group().map(|g| g.name());
        assert_eq!(got, Some(group), "{n}");
        let got = h.client.negotiated_cipher_suite().map(|s| s.suite());
        assert_eq!(got, Some(suite), "{n}");
        self
    }
}

fn side(provider: Provider, groups: &[NamedGroup], suites: &[CipherSuite]) -> Side {
    Side {
        provider,
        groups: groups.to_vec(),
        suites: suites.to_vec(),
    }
}

fn both(provider: Provider, groups: &[NamedGroup], suites: &[CipherSuite]) -> (Side, Side) {
    (
        side(provider, groups, suites),
        side(provider, groups, suites),
    )
}

/// Case names: `_sha384` negotiates TLS13_AES_256_GCM_SHA384, the first suite of both
/// providers' defaults (so what barrage gets unless the server prefers another);
/// `_sha256` is TLS13_AES_128_GCM_SHA256 (`--cipher TLS13_AES_128_GCM_SHA256`). The
/// TLS 1.3 key schedule and transcript hash run on that hash.
fn handshakes(c: &mut Criterion) {
    use CipherSuite::{
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 as TLS12_AES128,
        TLS13_AES_128_GCM_SHA256 as AES128, TLS13_AES_256_GCM_SHA384 as AES256,
    };
    use NamedGroup::{X25519, X25519MLKEM768 as MLKEM};
    use Provider::{AwsLcRs, Ring};
    let pki = pki();
    let mut cases = Vec::new();
    for resume in [false, true] {
        let kind = if resume { "resumed" } else { "full" };
        for (hash, suite) in [("sha384", AES256), ("sha256", AES128)] {
            for p in [AwsLcRs, Ring] {
                let name = format!("tls13_{kind}_x25519_{hash}");
                let sides = both(p, &[X25519], &[suite]);
                cases.push(Case::new(&pki, &name, sides, resume, X25519, suite));
            }
        }
        // aws-lc-rs only: ring has no ML-KEM.
        let name = format!("tls13_{kind}_x25519mlkem768_sha384");
        let sides = both(AwsLcRs, &[MLKEM], &[]);
        cases.push(Case::new(&pki, &name, sides, resume, MLKEM, AES256));
    }
    // barrage's own client configuration with `-k --kx-group X25519 --tls-resume off`:
    // the chain and name are not checked (one signature verification less), the
    // CertificateVerify signature still is.
    let opts = barrage::wire::tls::TlsOptions {
        insecure: true,
        kx_groups: vec!["X25519".into()],
        version: Some("1.3".into()),
        resume: false,
        ..Default::default()
    };
    let client = barrage::wire::tls::ClientTls::build(&opts, "localhost")
        .expect("barrage client")
        .thread_config();
    cases.push(
        Case {
            name: "tls13_full_x25519_sha384_insecure/aws-lc-rs".into(),
            client,
            server: server_config(&pki, &side(AwsLcRs, &[X25519], &[])),
            kind: HandshakeKind::Full,
        }
        .checked(X25519, AES256),
    );
    // barrage's default client (X25519MLKEM768 first, plus an X25519 share reusing its
    // X25519 half) against a server without ML-KEM: the server picks X25519, the
    // client's ML-KEM key pair is made for nothing.
    let sides = (side(AwsLcRs, &[], &[]), side(AwsLcRs, &[X25519], &[]));
    let name = "tls13_full_default_vs_x25519_server_sha384";
    cases.push(Case::new(&pki, name, sides, false, X25519, AES256));
    for p in [AwsLcRs, Ring] {
        let sides = both(p, &[X25519], &[TLS12_AES128]);
        let name = "tls12_full_x25519_ecdhe_ecdsa_aes128gcm";
        cases.push(Case::new(&pki, name, sides, false, X25519, TLS12_AES128));
    }

    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    for case in &cases {
        for (who, client_side) in [("client", true), ("server", false)] {
            g.bench_function(BenchmarkId::new(&case.name, who), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let h = handshake(&case.client, &case.server);
                        debug_assert_eq!(h.client.handshake_kind(), Some(case.kind));
                        total += if client_side {
                            h.client_time
                        } else {
                            h.server_time
                        };
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

/// An established TLS 1.3 connection with this suite (X25519), server to client:
/// each iteration the server encrypts one `size`-byte record and the client
/// decrypts it and reads the plaintext, as barrage does with a response.
fn bulk(c: &mut Criterion) {
    let pki = pki();
    let suites = [
        ("AES_128_GCM", CipherSuite::TLS13_AES_128_GCM_SHA256),
        (
            "CHACHA20_POLY1305",
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        ),
    ];
    for (label, size) in [("bulk_16KiB", 16 * 1024), ("bulk_200B", 200)] {
        let mut g = c.benchmark_group(label);
        g.throughput(Throughput::Bytes(size as u64));
        let payload = vec![0x5a_u8; size];
        let mut out = vec![0_u8; 32 * 1024];
        let mut wire = Vec::with_capacity(size + 256);
        for p in [Provider::AwsLcRs, Provider::Ring] {
            for (suite_name, suite) in suites {
                let (cs, ss) = both(p, &[NamedGroup::X25519], &[suite]);
                let cc = client_config(&pki, &cs, &rustls::version::TLS13, false);
                let sc = server_config(&pki, &ss);
                let Handshake {
                    mut client,
                    mut server,
                    ..
                } = handshake(&cc, &sc);
                assert_eq!(
                    client.negotiated_cipher_suite().map(|s| s.suite()),
                    Some(suite)
                );
                g.bench_function(BenchmarkId::new(p.name(), suite_name), |b| {
                    b.iter_custom(|iters| {
                        let t = now();
                        for _ in 0..iters {
                            server.writer().write_all(&payload).expect("write");
                            drain(&mut server, &mut wire);
                            let mut rd = &wire[..];
                            let mut got = 0;
                            while !rd.is_empty() {
                                client.read_tls(&mut rd).expect("read_tls");
                                client.process_new_packets().expect("process");
                                loop {
                                    match client.reader().read(&mut out) {
                                        Ok(n) if n > 0 => got += n,
                                        _ => break,
                                    }
                                }
                            }
                            wire.clear();
                            assert_eq!(got, size);
                            black_box(&out);
                        }
                        t.elapsed()
                    })
                });
            }
        }
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = handshakes, bulk
}
criterion_main!(benches);
