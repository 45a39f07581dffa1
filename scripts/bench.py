#!/usr/bin/env python3
"""End-to-end benchmark of barrage against wrk (and h2load --h1), driven by
scripts/bench.sh, which installs the tools, builds barrage, starts nginx and
then runs  python3 bench.py run  (every knob is documented in bench.sh).

Plain Python 3.11, standard library only.

One measurement ("timed run")
  * nginx (scripts/bench-nginx.conf, one worker) is pinned to SERVER_CPU, the
    client and this script to CLIENT_CPU; all traffic is to 127.0.0.1.
  * The client runs as
        taskset -c CLIENT_CPU timeout -k 3 LIMIT /usr/bin/time -f %M -o F <client>
    and this script reaps it with os.wait4(), so user+sys CPU covers the whole
    client process tree (barrage's worker processes are waited for by barrage,
    wrk's threads are threads). timeout and time add about 2 ms of CPU.
  * Requests are counted by nginx (stub_status before and after the run, plus
    the polls made during it, which are subtracted), the same way for every
    tool. req/s = nginx-counted requests / client wall time (barrage's wall time
    includes writing results.csv after the load: that is part of its cost);
    "steady req/s" = rate between the first and last stub_status poll during
    which the count was rising (the load phase only).
  * Max RSS is GNU time's %M, i.e. ru_maxrss of the client tree as its own
    parent sees it. The wait4 figure seen from here is useless for this: a
    process forked from this Python interpreter keeps the interpreter's ~13 MiB
    high-water mark across exec, so every tool would show >= 13 MiB.
  * Syscalls are counted in a separate "counting run" of the same command and
    duration that follows each timed run (SYSCALL_RUNS=all) or only the first
    round's (SYSCALL_RUNS=first), wrapped in
        perf stat -x, -e raw_syscalls:sys_enter --      (exact, all threads and
    child processes), or, without a usable perf,  strace -f -c.  They are not
    counted inside the timed run because enabling the syscall tracepoint costs
    the client 10-25% more CPU per request (measured on the 2-core dev box),
    which would distort the figure this benchmark exists for. syscalls/req =
    syscalls of the counting run / requests nginx counted in that run.
  * Runs are interleaved: round 1 of every cell, then round 2, ..., so slow
    drift of a shared machine spreads over all cells. Before every timed run
    the script waits (up to QUIET_MAX s) until neither core is busier than
    QUIET_PCT %, and it reports the CPU used on both cores by anything other
    than the client, nginx and itself during the run ("other load").

Mode `scenario` (the cost of a flow)
  * The server is `barrage serve` (its demo shop, one thread) pinned to
    SERVER_CPU, started fresh for every run on 127.0.0.1:19082 and stopped after
    it: requests = the "served N requests" it prints when it stops, minus the
    bench's own (the plain cell's login), the same count for every tool. Its CPU
    stands in the `nginx CPU %` column; there is no steady req/s (no poller).
  * Cells: barrage plain (keep-alive GET /items?token=T, T from a login made
    just before), barrage --scenario scripts/bench-scenario.toml (login, items,
    checkout: one JSON and one regex capture, the session cookie, no think time)
    and, with TOOLS=locust, the same flow in Locust (scripts/bench_locust.py,
    FastHttpUser, headless, -u = conns, --run-time = DURATION) from the venv
    bench.sh makes. Ratios: scenario / plain, locust / barrage scenario.
"""
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STATE = "/tmp/barrage-bench"
RUNDIRS = os.path.join(STATE, "runs")
LOGS = os.path.join(STATE, "logs")
CERT = os.path.join(STATE, "cert.pem")
HOST = "127.0.0.1"  # the only address this benchmark ever sends traffic to
PORT_HTTP, PORT_TLS, PORT_STATUS = 19080, 19443, 19081
PORT_SHOP = 19082  # mode scenario: `barrage serve`, one per run
URL_SHOP = f"http://{HOST}:{PORT_SHOP}/"
SCENARIO = os.path.join(HERE, "bench-scenario.toml")
LOCUST_FILE = os.path.join(HERE, "bench_locust.py")
LOCUST = os.path.join(STATE, "locust-venv", "bin", "locust")
URL_HTTP = f"http://{HOST}:{PORT_HTTP}/"
URL_TLS = f"https://{HOST}:{PORT_TLS}/"
CLK_TCK = os.sysconf("SC_CLK_TCK")
GNU_TIME = "/usr/bin/time"


def env(name, default):
    v = os.environ.get(name, "").strip()
    return v if v else default


def env_list(name, default):
    return [x.strip() for x in env(name, default).split(",") if x.strip()]


RUNS = int(env("RUNS", "3"))
DURATION = int(env("DURATION", "5").rstrip("s"))  # whole seconds; "5s" is accepted
CONNS = [int(c) for c in env_list("CONNS", "64")]
MODES = env_list("MODES", "http,https,https-close")
TOOLS = env_list("TOOLS", "wrk")
CLIENT_CPU = env("CLIENT_CPU", "0")
SERVER_CPU = env("SERVER_CPU", "1")
OUT = env("OUT", os.path.join(STATE, "bench.md"))
BARRAGE = env("BARRAGE", os.path.join(REPO, "target", "release", "barrage"))
NOCSV = env("NOCSV", "0") == "1"
SYSCALLS = env("SYSCALLS", "auto")          # auto | perf | strace | off
SYSCALL_RUNS = env("SYSCALL_RUNS", "all")   # all | first
EXPECT_BODY = env("EXPECT_BODY", "ok")
QUIET_PCT = float(env("QUIET_PCT", "15"))
QUIET_MAX = float(env("QUIET_MAX", "10"))
SETTLE = float(env("SETTLE", "1"))
SAMPLE = float(env("SAMPLE", "0.2"))
KEEP_RUNS = env("KEEP_RUNS", "0") == "1"
HS_CAP = 2_000_000  # h2load count-based runs: upper bound on -n
PIPELINE = int(env("PIPELINE", "16"))       # depth of mode `pipeline`
WRK_PIPELINE_LUA = os.path.join(HERE, "wrk-pipeline.lua")
KNOWN_MODES = ("http", "https", "https-close", "expect", "pipeline", "scenario")
KNOWN_TOOLS = ("wrk", "h2load", "locust")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# nginx: counters and CPU


def status_once():
    """Requests counted by nginx so far (this request included), or None."""
    try:
        with socket.create_connection((HOST, PORT_STATUS), timeout=2) as s:
            s.sendall(f"GET /status HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            buf = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        return int(re.search(rb"\n\s*\d+ \d+ (\d+)", buf).group(1))
    except (OSError, AttributeError):
        return None


def proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def cpu_stat():
    """{cpu: (busy, total, steal)} in ticks; busy = user+nice+system+irq+softirq."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()[:8]]
                out[m.group(1)] = (v[0] + v[1] + v[2] + v[5] + v[6], sum(v), v[7])
    return out


def busy_pct(s0, s1, cpu, field=0):
    t = s1[cpu][1] - s0[cpu][1]
    return 100.0 * (s1[cpu][field] - s0[cpu][field]) / t if t > 0 else 0.0


_NOISY = {"streak": 0, "gave_up": False}


def wait_quiet():
    """Sleeps at least SETTLE s, then until both cores are quiet (or QUIET_MAX).
    Returns (seconds waited, quiet reached?, busiest core % in the last window).
    After 3 timed runs in a row that never saw quiet cores it stops waiting
    longer than SETTLE: the machine is busy for good, and waiting only costs time."""
    t0 = time.monotonic()
    time.sleep(max(0.0, SETTLE - 0.5))
    limit = 0.0 if _NOISY["gave_up"] else QUIET_MAX
    while True:
        s0 = cpu_stat()
        time.sleep(0.5)
        s1 = cpu_stat()
        worst = max(busy_pct(s0, s1, CLIENT_CPU), busy_pct(s0, s1, SERVER_CPU))
        waited = time.monotonic() - t0
        if worst <= QUIET_PCT:
            _NOISY["streak"] = 0
            return waited, True, worst
        if waited >= limit:
            _NOISY["streak"] += 1
            if _NOISY["streak"] >= 3 and not _NOISY["gave_up"] and QUIET_MAX > 0:
                _NOISY["gave_up"] = True
                log(f"note: the cores never got below {QUIET_PCT:g}% busy before 3 runs in a row: "
                    "not waiting for quiet any more (see the `other %` column)")
            return waited, False, worst


class Sampler(threading.Thread):
    """Polls stub_status every SAMPLE s over one keep-alive connection while the
    client runs (about 0.1 ms of CPU per poll, on the client core)."""

    REQ = f"GET /status HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()

    def __init__(self):
        super().__init__(daemon=True)
        self.samples = []
        self.polls = 0
        self.stop_evt = threading.Event()
        self.sock = socket.create_connection((HOST, PORT_STATUS), timeout=2)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def poll(self):
        t0 = time.monotonic()
        self.polls += 1
        self.sock.sendall(self.REQ)
        buf = b""
        while b"Reading:" not in buf or not buf.endswith(b"\n"):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("status connection closed")
            buf += chunk
        n = int(re.search(rb"\n\s*\d+ \d+ (\d+)", buf).group(1))
        # Each poll counts itself: remove the polls from the series.
        self.samples.append(((t0 + time.monotonic()) / 2, n - self.polls))

    def run(self):
        try:
            while not self.stop_evt.wait(SAMPLE):
                self.poll()
        except OSError:
            pass

    def finish(self):
        self.stop_evt.set()
        self.join()
        self.sock.close()

    def steady_rate(self):
        s = self.samples
        rising = [k for k in range(1, len(s)) if s[k][1] > s[k - 1][1]]
        if len(rising) < 3:
            return None
        # From the end of the first rising interval to the start of the last
        # one: both ends lie inside the load phase.
        i, j = rising[0], rising[-1] - 1
        if j <= i or s[j][0] - s[i][0] < 0.5:
            return None
        return (s[j][1] - s[i][1]) / (s[j][0] - s[i][0])


# --------------------------------------------------------------------------
# barrage: capabilities and command lines


def barrage_help():
    try:
        r = subprocess.run([BARRAGE, "run", "--help"], capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr
    except OSError as e:
        return f"cannot run {BARRAGE}: {e}"


def has_flag(help_text, flag):
    return re.search(r"(^|[\s,])" + re.escape(flag) + r"(?![\w-])", help_text, re.M) is not None


def tls_args(help_text):
    """How barrage should accept the self-signed cert, or None. -k mirrors wrk
    and h2load, which do not verify certificates; --cacert is the fallback."""
    if has_flag(help_text, "--insecure") or has_flag(help_text, "-k"):
        return ["-k"]
    if has_flag(help_text, "--cacert"):
        return ["--cacert", CERT]
    return None


def barrage_cmd(url, conns, out, extra, duration=None):
    return [BARRAGE, "run", url, "-p", "1", "-t", "1", "-c", str(conns),
            "-d", f"{duration or DURATION}s", "-o", out, "-q", *extra]


def wrk_cmd(url, conns, close, depth=None):
    a = ["wrk", "-t1", f"-c{conns}", f"-d{DURATION}s", "--timeout", "5s"]
    if depth:
        # wrk pipelines only through a script (Lua, once per DEPTH requests).
        return a + ["-s", WRK_PIPELINE_LUA, url, "--", str(depth)]
    return a + (["-H", "Connection: close"] if close else []) + [url]


def locust_cmd(url, conns):
    return [LOCUST, "-f", LOCUST_FILE, "--headless", "-u", str(conns), "-r", str(conns),
            "--run-time", f"{DURATION}s", "-H", url.rstrip("/"), "--only-summary",
            "--loglevel", "WARNING"]


def h2load_cmd(url, conns, close, hint, depth=None):
    a = ["h2load", "--h1", "-t1", f"-c{conns}"]
    if depth:
        a += ["-m", str(depth)]
    if close:
        # h2load 1.52 hangs at the end of a timed (-D) TLS run when the server
        # closes every connection, so this one is count-based, sized from the
        # rate another tool just measured in this round to take about DURATION.
        n = int(min(HS_CAP, max(10 * conns, (hint or 1000) * DURATION)))
        return a + ["-n", str(n), "-H", "Connection: close", url]
    return a + ["-D", str(DURATION), url]


class Cell:
    """One (tool variant, mode, conns) combination, measured once per round."""

    def __init__(self, tool, label, mode, conns, url, extra=None, close=False, depth=None):
        self.tool, self.label, self.mode, self.conns = tool, label, mode, conns
        self.url, self.extra, self.close = url, list(extra or []), close
        # Requests in flight per connection (mode pipeline): barrage's --pipeline
        # is in `extra`; wrk and h2load get theirs from here.
        self.depth = depth

    @property
    def key(self):
        return (self.label, self.mode, self.conns)

    @property
    def slug(self):
        return re.sub(r"[^A-Za-z0-9]+", "-", f"{self.label}-{self.mode}-c{self.conns}").strip("-")

    @property
    def shop(self):
        """Measured against `barrage serve`'s demo shop, not nginx (mode scenario)."""
        return self.mode == "scenario"

    def argv(self, out_dir, hint, url=None):
        url = url or self.url
        if self.tool == "barrage":
            return barrage_cmd(url, self.conns, out_dir, self.extra)
        if self.tool == "locust":
            return locust_cmd(url, self.conns)
        if self.tool == "wrk":
            return wrk_cmd(self.url, self.conns, self.close, self.depth)
        return h2load_cmd(self.url, self.conns, self.close, hint, self.depth)

    def limit(self):
        # barrage writes results.csv after the load: give it room.
        counted = self.tool == "h2load" and self.close
        return DURATION * (3 if counted else 1) + 20


_PREFLIGHT = {}


def preflight_barrage(extra, url):
    """A 20-request barrage run with the cell's flags. Returns None if it did
    all 20 with status 200 and no recorded error, else the reason."""
    key = (tuple(extra), url)
    if key not in _PREFLIGHT:
        _PREFLIGHT[key] = _preflight(extra, url)
    return _PREFLIGHT[key]


def _preflight(extra, url):
    out = os.path.join(RUNDIRS, f"preflight-{time.monotonic_ns()}")
    argv = barrage_cmd(url, 1, out, [*extra, "-n", "20", "--columns", "error"], duration=5)
    try:
        r = subprocess.run(["timeout", "-k", "2", "15", *argv], capture_output=True, text=True)
    except OSError as e:
        return str(e)
    try:
        if r.returncode != 0:
            lines = [l for l in (r.stderr + r.stdout).splitlines() if l.strip()]
            return f"exit {r.returncode}: {lines[-1] if lines else '(no output)'}"
        try:
            with open(os.path.join(out, "results.csv")) as f:
                rows = [l.rstrip("\n").split(",") for l in f if l.strip()]
        except OSError as e:
            return f"no results.csv: {e}"
        if len(rows) < 20:
            return f"only {len(rows)} of 20 requests recorded"
        bad = [r for r in rows if r[2] != "200" or r[-1] != ""]
        if bad:
            return f"{len(bad)} of {len(rows)} requests failed, e.g. {','.join(bad[0])}"
        return None
    finally:
        shutil.rmtree(out, ignore_errors=True)


def build_cells(help_text):
    """Returns (cells, notes): the cells to measure, and why anything is skipped."""
    cells, notes = [], []
    tls = tls_args(help_text)
    tls_why = None
    if tls is None:
        tls_why = "`barrage run --help` lists neither -k/--insecure nor --cacert"
    else:
        reason = preflight_barrage(tls, URL_TLS)
        if reason:
            tls_why = f"barrage {' '.join(tls)} {URL_TLS} failed its preflight ({reason})"
    others = [t for t in TOOLS if t in ("wrk", "h2load")]
    for t in TOOLS:
        if t not in KNOWN_TOOLS:
            notes.append(f"TOOLS: unknown tool `{t}` ignored (known: {', '.join(KNOWN_TOOLS)})")
    for mode in MODES:
        if mode not in KNOWN_MODES:
            notes.append(f"mode `{mode}` skipped: unknown (known: {', '.join(KNOWN_MODES)})")
            continue
        for c in CONNS:
            new, why = [], "nothing to run"
            if mode == "http":
                new.append(Cell("barrage", "barrage", mode, c, URL_HTTP))
                if NOCSV:
                    new.append(Cell("barrage", "barrage --no-csv", mode, c, URL_HTTP, ["--no-csv"]))
                new += [Cell(t, t, mode, c, URL_HTTP) for t in others]
            elif mode == "https":
                if tls_why:
                    why = tls_why
                else:
                    new.append(Cell("barrage", "barrage", mode, c, URL_TLS, tls))
                    if NOCSV:
                        new.append(Cell("barrage", "barrage --no-csv", mode, c, URL_TLS,
                                        [*tls, "--no-csv"]))
                    new += [Cell(t, t, mode, c, URL_TLS) for t in others]
            elif mode == "https-close":
                missing = [f for f in ("--no-keepalive", "--tls-resume") if not has_flag(help_text, f)]
                if tls_why:
                    why = tls_why
                elif missing:
                    why = f"`barrage run --help` does not list {', '.join(missing)}"
                else:
                    for v in ("off", "on"):
                        ex = [*tls, "--no-keepalive", "--tls-resume", v]
                        reason = preflight_barrage(ex, URL_TLS)
                        if reason:
                            notes.append(f"https-close: barrage --tls-resume {v} skipped: preflight "
                                         f"failed ({reason})")
                        else:
                            new.append(Cell("barrage", f"barrage resume={v}", mode, c, URL_TLS, ex,
                                            close=True))
                    if new:
                        new += [Cell(t, t, mode, c, URL_TLS, close=True) for t in others]
                    else:
                        why = "no barrage variant passed its preflight"
            elif mode == "expect":
                missing = [f for f in ("--expect-status", "--expect-body") if not has_flag(help_text, f)]
                if missing:
                    why = f"`barrage run --help` does not list {', '.join(missing)}"
                else:
                    ex = ["--expect-status", "200", "--expect-body", EXPECT_BODY]
                    reason = preflight_barrage(ex, URL_HTTP)
                    if reason:
                        why = f"barrage {' '.join(ex)} failed its preflight ({reason})"
                    else:
                        new = [Cell("barrage", "barrage", mode, c, URL_HTTP),
                               Cell("barrage", "barrage +expect", mode, c, URL_HTTP, ex)]
            elif mode == "pipeline":
                ex = ["--pipeline", str(PIPELINE)]
                if not has_flag(help_text, "--pipeline"):
                    why = "`barrage run --help` does not list --pipeline"
                elif reason := preflight_barrage(ex, URL_HTTP):
                    why = f"barrage {' '.join(ex)} failed its preflight ({reason})"
                else:
                    new.append(Cell("barrage", f"barrage --pipeline {PIPELINE}", mode, c,
                                    URL_HTTP, ex))
                    # The same reading every response as it arrives (no batched reads):
                    # what batching saves, side by side.
                    if has_flag(help_text, "--no-read-batching"):
                        new.append(Cell("barrage", "barrage --no-read-batching", mode, c,
                                        URL_HTTP, ex + ["--no-read-batching"]))
                    new += [Cell(t, t, mode, c, URL_HTTP, depth=PIPELINE) for t in others]
            elif mode == "scenario":
                if not has_flag(help_text, "--scenario"):
                    why = "`barrage run --help` does not list --scenario"
                else:
                    new = [Cell("barrage", "barrage plain", mode, c, URL_SHOP),
                           Cell("barrage", "barrage scenario", mode, c, URL_SHOP,
                                ["--scenario", SCENARIO])]
                    if "locust" in TOOLS:
                        if os.access(LOCUST, os.X_OK):
                            new.append(Cell("locust", "locust", mode, c, URL_SHOP))
                        elif c == CONNS[0]:
                            notes.append(f"scenario: locust skipped: {LOCUST} missing (bench.sh "
                                         "installs it with TOOLS=locust)")
            if new:
                cells += new
            elif c == CONNS[0]:
                notes.append(f"mode `{mode}` skipped: {why}")
    return cells, notes


# --------------------------------------------------------------------------
# Syscall counting


def perf_usable():
    if not shutil.which("perf"):
        return "perf not installed"
    f = os.path.join(STATE, "perf-probe.txt")
    try:
        r = subprocess.run(["perf", "stat", "-x,", "-o", f, "-e", "raw_syscalls:sys_enter", "--", "true"],
                           capture_output=True, text=True, timeout=30)
        n = parse_perf(f)
        if r.returncode == 0 and n:
            return None
        return f"perf stat failed (rc {r.returncode}): {(r.stderr.strip().splitlines() or ['?'])[-1]}"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"perf stat failed: {e}"


def parse_perf(path):
    try:
        with open(path) as f:
            for line in f:
                p = line.strip().split(",")
                if len(p) >= 3 and "raw_syscalls:sys_enter" in p[2]:
                    return int(p[0]) if p[0].isdigit() else None
    except OSError:
        pass
    return None


def parse_strace(path):
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if p and p[-1] == "total" and len(p) >= 5:
                    return int(p[3])
    except (OSError, ValueError):
        pass
    return None


# --------------------------------------------------------------------------
# Tool outputs


def count_csv(path):
    """(rows, rows whose status is not 2xx) of a barrage results.csv (the shop's
    checkout answers 201)."""
    rows = bad = 0
    with open(path, "rb") as f:
        for line in f:
            rows += 1
            if not (line[-5:-3] == b",2" and line.endswith(b"\n")):
                bad += 1
    return rows, bad


def parse_tool(tool, text, run_dir):
    """(requests the tool says it completed, errors it reports)."""
    def num(pat, default=None):
        m = re.search(pat, text)
        return int(m.group(1)) if m else default

    if tool == "barrage":
        csv = os.path.join(run_dir, "results.csv")
        if os.path.exists(csv):
            return count_csv(csv)
        return None, None
    if tool == "locust":
        # The summary's "Aggregated  <requests>  <failures>(<pct>)" line.
        m = re.search(r"Aggregated\s+(\d+)\s+(\d+)", text)
        return (int(m.group(1)), int(m.group(2))) if m else (None, None)
    if tool == "wrk":
        n = num(r"(\d+) requests in")
        err = num(r"Non-2xx or 3xx responses: (\d+)", 0)
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        if m:
            err += sum(int(x) for x in m.groups())
        return n, err
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if not m:
        return None, None
    return int(m.group(3)), int(m.group(5)) + int(m.group(6)) + int(m.group(7))


# --------------------------------------------------------------------------
# Measuring


class Bench:
    def __init__(self, nginx_pid, syscall_tool):
        self.nginx_pid = nginx_pid
        kids = children_of(nginx_pid)
        if len(kids) != 1:
            sys.exit(f"expected 1 nginx worker under pid {nginx_pid}, found {kids}")
        self.worker = kids[0]
        self.syscall_tool = syscall_tool
        self.have_time = os.access(GNU_TIME, os.X_OK)

    def spawn(self, argv, log_path, limit):
        """Runs argv pinned and bounded; returns (rc, wall, rusage)."""
        full = ["taskset", "-c", CLIENT_CPU, "timeout", "-k", "3", str(limit), *argv]
        t0 = time.monotonic()
        with open(log_path, "w") as f:
            p = subprocess.Popen(full, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                _, status, ru = os.wait4(p.pid, 0)
            except BaseException:
                p.terminate()  # timeout forwards it to the client
                p.wait()
                raise
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        return p.returncode, wall, ru

    def timed(self, cell, rnd, hint):
        if cell.shop:
            return self.timed_shop(cell, rnd)
        run_dir = os.path.join(RUNDIRS, f"{cell.slug}-r{rnd}")
        shutil.rmtree(run_dir, ignore_errors=True)
        argv = cell.argv(run_dir, hint)
        logf = os.path.join(LOGS, f"{cell.slug}-r{rnd}.txt")
        rssf = os.path.join(LOGS, f"{cell.slug}-r{rnd}.rss")
        wrapped = ([GNU_TIME, "-f", "%M", "-o", rssf] if self.have_time else []) + argv
        waited, quiet, _ = wait_quiet()
        s0, w0, self0 = cpu_stat(), proc_ticks(self.worker), resource.getrusage(resource.RUSAGE_SELF)
        r0 = status_once()
        sampler = Sampler()
        sampler.poll()
        sampler.start()
        try:
            rc, wall, ru = self.spawn(wrapped, logf, cell.limit())
        finally:
            sampler.finish()
        r1 = status_once()
        s1, w1, self1 = cpu_stat(), proc_ticks(self.worker), resource.getrusage(resource.RUSAGE_SELF)
        srv = r1 - r0 - 1 - sampler.polls if None not in (r0, r1) else None
        with open(logf, errors="replace") as f:
            text = f.read()
        tool_req, tool_err = parse_tool(cell.tool, text, run_dir)
        rss_kib = None
        if self.have_time:
            try:
                with open(rssf) as f:
                    rss_kib = int(f.read().strip().splitlines()[-1])
            except (OSError, ValueError, IndexError):
                pass
        else:
            rss_kib = ru.ru_maxrss  # includes this interpreter's ~13 MiB: see module doc
        if not KEEP_RUNS:
            shutil.rmtree(run_dir, ignore_errors=True)
        cpu = ru.ru_utime + ru.ru_stime
        nginx_s = (w1 - w0) / CLK_TCK
        self_s = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
        busy_s = sum((s1[c][0] - s0[c][0]) / CLK_TCK for c in {CLIENT_CPU, SERVER_CPU})
        other = max(0.0, busy_s - cpu - nginx_s - self_s)
        return {
            "label": cell.label, "tool": cell.tool, "mode": cell.mode, "conns": cell.conns,
            "round": rnd, "rc": rc, "cmd": shlex.join(argv), "log": logf,
            "wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime, "cpu": cpu,
            "srv_req": srv, "tool_req": tool_req, "tool_err": tool_err,
            "rps": srv / wall if srv else 0.0, "steady_rps": sampler.steady_rate(),
            "us_req": cpu * 1e6 / srv if srv else None,
            "hs_per_cpu_s": (srv / cpu if srv and cpu > 0 else None) if cell.close else None,
            "rss_mib": rss_kib / 1024 if rss_kib else None,
            "nginx_pct": 100.0 * nginx_s / wall,
            "cli_busy": busy_pct(s0, s1, CLIENT_CPU), "srv_busy": busy_pct(s0, s1, SERVER_CPU),
            "steal": max(busy_pct(s0, s1, CLIENT_CPU, 2), busy_pct(s0, s1, SERVER_CPU, 2)),
            "other_pct": 100.0 * other / wall, "quiet_wait": waited, "quiet": quiet,
            "sys_calls": None, "sys_req": None, "sys_cmd": None,
        }

    def shop_run(self, cell, argv_of, log_path, limit, wrap=()):
        """One run against a fresh `barrage serve` (mode scenario): starts it pinned
        to SERVER_CPU, makes the plain cell's login, runs the client (argv_of(url))
        and stops the server. Returns (rc, wall, rusage, requests the server counted
        for the client, server CPU s, argv)."""
        slog = log_path + ".serve"
        with open(slog, "w") as f:
            srv = subprocess.Popen(["taskset", "-c", SERVER_CPU, BARRAGE, "serve", "--listen",
                                    f"{HOST}:{PORT_SHOP}", "--threads", "1"],
                                   stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with open(slog) as f:
                    if "listening on" in f.read():
                        break
                if srv.poll() is not None:
                    sys.exit(f"barrage serve did not start: {open(slog).read()}")
                time.sleep(0.05)
            own, url = 0, cell.url
            if cell.label == "barrage plain":
                url, own = f"{URL_SHOP}items?token={shop_token()}", 1
            argv = argv_of(url)
            t0 = proc_ticks(srv.pid)
            rc, wall, ru = self.spawn([*wrap, *argv], log_path, limit)
            cpu = (proc_ticks(srv.pid) - t0) / CLK_TCK
        finally:
            srv.terminate()
            srv.wait()
        with open(slog) as f:
            m = re.search(r"served (\d+) request", f.read())
        served = int(m.group(1)) - own if m else None
        return rc, wall, ru, served, cpu, argv

    def timed_shop(self, cell, rnd):
        run_dir = os.path.join(RUNDIRS, f"{cell.slug}-r{rnd}")
        shutil.rmtree(run_dir, ignore_errors=True)
        logf = os.path.join(LOGS, f"{cell.slug}-r{rnd}.txt")
        rssf = os.path.join(LOGS, f"{cell.slug}-r{rnd}.rss")
        timer = [GNU_TIME, "-f", "%M", "-o", rssf] if self.have_time else []
        waited, quiet, _ = wait_quiet()
        s0, self0 = cpu_stat(), resource.getrusage(resource.RUSAGE_SELF)
        rc, wall, ru, srv, srv_cpu, argv = self.shop_run(
            cell, lambda url: timer + cell.argv(run_dir, None, url), logf, cell.limit())
        s1, self1 = cpu_stat(), resource.getrusage(resource.RUSAGE_SELF)
        with open(logf, errors="replace") as f:
            tool_req, tool_err = parse_tool(cell.tool, f.read(), run_dir)
        rss_kib = None
        try:
            with open(rssf) as f:
                rss_kib = int(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            pass
        if not KEEP_RUNS:
            shutil.rmtree(run_dir, ignore_errors=True)
        cpu = ru.ru_utime + ru.ru_stime
        self_s = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
        busy_s = sum((s1[c][0] - s0[c][0]) / CLK_TCK for c in {CLIENT_CPU, SERVER_CPU})
        other = max(0.0, busy_s - cpu - srv_cpu - self_s)
        return {
            "label": cell.label, "tool": cell.tool, "mode": cell.mode, "conns": cell.conns,
            "round": rnd, "rc": rc, "log": logf,
            "cmd": re.sub(r"token=[^\s']+", "token=T", shlex.join(argv[len(timer):])),
            "wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime, "cpu": cpu,
            "srv_req": srv, "tool_req": tool_req, "tool_err": tool_err,
            "rps": srv / wall if srv else 0.0, "steady_rps": None,
            "us_req": cpu * 1e6 / srv if srv else None, "hs_per_cpu_s": None,
            "rss_mib": rss_kib / 1024 if rss_kib else None,
            "nginx_pct": 100.0 * srv_cpu / wall,
            "cli_busy": busy_pct(s0, s1, CLIENT_CPU), "srv_busy": busy_pct(s0, s1, SERVER_CPU),
            "steal": max(busy_pct(s0, s1, CLIENT_CPU, 2), busy_pct(s0, s1, SERVER_CPU, 2)),
            "other_pct": 100.0 * other / wall, "quiet_wait": waited, "quiet": quiet,
            "sys_calls": None, "sys_req": None, "sys_cmd": None,
        }

    def count_syscalls(self, cell, rnd, hint, row):
        if cell.shop:
            return self.count_syscalls_shop(cell, rnd, row)
        run_dir = os.path.join(RUNDIRS, f"{cell.slug}-r{rnd}-syscalls")
        shutil.rmtree(run_dir, ignore_errors=True)
        argv = cell.argv(run_dir, hint)
        out = os.path.join(LOGS, f"{cell.slug}-r{rnd}.syscalls")
        if self.syscall_tool == "perf":
            wrap = ["perf", "stat", "-x,", "-o", out, "-e", "raw_syscalls:sys_enter", "--"]
        else:
            wrap = ["strace", "-f", "-c", "-o", out, "--"]
        time.sleep(SETTLE)  # a count barely depends on noise: no quiet wait here
        r0 = status_once()
        rc, wall, ru = self.spawn(wrap + argv, os.path.join(LOGS, f"{cell.slug}-r{rnd}-syscalls.txt"),
                                  cell.limit() * (4 if self.syscall_tool == "strace" else 1))
        r1 = status_once()
        if not KEEP_RUNS:
            shutil.rmtree(run_dir, ignore_errors=True)
        n = parse_perf(out) if self.syscall_tool == "perf" else parse_strace(out)
        srv = r1 - r0 - 1 if None not in (r0, r1) else None
        row["sys_cmd"] = shlex.join(wrap).replace(out, "FILE")
        row["sys_calls"], row["sys_srv_req"], row["sys_rc"] = n, srv, rc
        row["sys_req"] = n / srv if n and srv else None

    def count_syscalls_shop(self, cell, rnd, row):
        run_dir = os.path.join(RUNDIRS, f"{cell.slug}-r{rnd}-syscalls")
        shutil.rmtree(run_dir, ignore_errors=True)
        out = os.path.join(LOGS, f"{cell.slug}-r{rnd}.syscalls")
        if self.syscall_tool == "perf":
            wrap = ["perf", "stat", "-x,", "-o", out, "-e", "raw_syscalls:sys_enter", "--"]
        else:
            wrap = ["strace", "-f", "-c", "-o", out, "--"]
        time.sleep(SETTLE)
        rc, _, _, srv, _, _ = self.shop_run(
            cell, lambda url: cell.argv(run_dir, None, url),
            os.path.join(LOGS, f"{cell.slug}-r{rnd}-syscalls.txt"),
            cell.limit() * (4 if self.syscall_tool == "strace" else 1), wrap)
        if not KEEP_RUNS:
            shutil.rmtree(run_dir, ignore_errors=True)
        n = parse_perf(out) if self.syscall_tool == "perf" else parse_strace(out)
        row["sys_cmd"] = shlex.join(wrap).replace(out, "FILE")
        row["sys_calls"], row["sys_srv_req"], row["sys_rc"] = n, srv, rc
        row["sys_req"] = n / srv if n and srv else None


def shop_token():
    """A token of the running demo shop: one login (user alice)."""
    with socket.create_connection((HOST, PORT_SHOP), timeout=5) as s:
        body = b"user=alice&password=alice-secret"
        s.sendall(b"POST /login HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nConnection: close\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        buf = b""
        while chunk := s.recv(4096):
            buf += chunk
    m = re.search(rb'"token":\s*"([^"]+)"', buf)
    if not m:
        sys.exit(f"the demo shop gave no token: {buf[:200]!r}")
    return m.group(1).decode()


# --------------------------------------------------------------------------
# Report


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    return "-" if x is None else f"{x:,.{nd}f}"


def ratio(a, b, nd=2):
    return "-" if a is None or not b else f"{a / b:.{nd}f}x"


def version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        lines = (r.stdout + r.stderr).strip().splitlines()
        return lines[0] if lines else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src", "Cargo.toml",
                                "Cargo.lock"], capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def report(rows, cells, notes, started, finished, syscall_note):
    L = []
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                      if l.startswith("model name")), "?")
    L.append("# barrage end-to-end benchmark (HTTP/1.1, nginx on 127.0.0.1)\n")
    L.append(f"Date: {started:%Y-%m-%d %H:%M %Z} (took {(finished - started).total_seconds() / 60:.1f} min)  ")
    L.append(f"Host: {os.cpu_count()} CPUs ({cpu_model}), Linux {platform.release()}, "
             f"{version(['nginx', '-v'])}  ")
    orig = os.environ.get("BARRAGE_ORIG", BARRAGE)
    try:
        built = datetime.datetime.fromtimestamp(os.path.getmtime(BARRAGE)).astimezone()
        built = f"{built:%Y-%m-%d %H:%M %Z}"
    except OSError:
        built = "?"
    L.append(f"barrage: {version([BARRAGE, '--version'])}, binary {os.path.relpath(orig, REPO)} built "
             f"{built}; source tree at git {git_rev()}; "
             f"wrk: {version(['wrk', '-v'])}"
             + (f"; h2load: {version(['h2load', '--version'])}" if "h2load" in TOOLS else "") + "  ")
    L.append(f"Settings: RUNS={RUNS} (interleaved rounds), DURATION={DURATION}s, CONNS={CONNS}, "
             f"MODES={','.join(MODES)}, TOOLS={','.join(TOOLS)}; nginx (1 worker) on CPU {SERVER_CPU}, "
             f"client on CPU {CLIENT_CPU}; server cert ECDSA P-256, TLS session cache and tickets OFF.  ")
    L.append(f"Syscalls: {syscall_note}  ")
    others = [r["other_pct"] for r in rows]
    noisy = sum(1 for r in rows if not r["quiet"])
    L.append(f"Machine noise: CPU used on the two benchmark cores by other processes during the timed "
             f"runs: median {fmt(med(others))}% of one core (max {fmt(max(others) if others else None)}%); "
             f"{noisy} of {len(rows)} timed runs started without both cores below {QUIET_PCT:g}% busy."
             + (" **The figures are from a busy machine: compare them only within this report, and "
                "trust µs/req and syscalls/req (work per request) over req/s.**"
                if (med(others) or 0) > 25 else "") + "\n")
    for n in notes:
        L.append(f"- {n}")
    if notes:
        L.append("")
    L.append("Columns: **req/s** = requests counted by nginx / client wall time (barrage's includes "
             "writing results.csv after the load); **steady req/s** = nginx's count rate during the "
             "load phase only; **µs/req** = client user+sys CPU of the whole process tree (wait4) / "
             "nginx-counted requests; **µs/req --no-csv** = the same for barrage run with --no-csv; "
             "**syscalls/req** = from a separate counting run (see above); **RSS** = max RSS of the "
             "client tree; **hs/CPU-s** = handshakes (= requests, one per connection) per client "
             "CPU-second; **err** = errors the tool reported, summed over runs (`rc` = a non-zero "
             "exit). Medians of the rounds.\n")
    hdr = ["tool", "mode", "conns", "req/s", "steady req/s", "µs/req", "µs/req --no-csv",
           "syscalls/req", "max RSS MiB", "hs/CPU-s", "err"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))

    def cell_rows(label, mode, c):
        return [r for r in rows if (r["label"], r["mode"], r["conns"]) == (label, mode, c)]

    def stats(rs):
        return {k: med(r[k] for r in rs) for k in
                ("rps", "steady_rps", "us_req", "sys_req", "rss_mib", "hs_per_cpu_s")}

    groups = list(dict.fromkeys((c.mode, c.conns) for c in cells))
    for mode, c in groups:
        labels = [cl.label for cl in cells if (cl.mode, cl.conns) == (mode, c)]
        st = {lb: stats(cell_rows(lb, mode, c)) for lb in labels}
        for lb in labels:
            if lb == "barrage --no-csv":
                continue
            rs = cell_rows(lb, mode, c)
            if not rs:
                continue
            s = st[lb]
            nocsv = st.get("barrage --no-csv", {}).get("us_req") if lb == "barrage" else None
            errs = [r["tool_err"] for r in rs if r["tool_err"] is not None]
            bad = [r["rc"] for r in rs if r["rc"] != 0]
            err = (str(sum(errs)) if errs else "-") + (f" rc{bad}" if bad else "")
            L.append(f"| {lb} | {mode} | {c} | {fmt(s['rps'])} | {fmt(s['steady_rps'])} | "
                     f"{fmt(s['us_req'], 2)} | {fmt(nocsv, 2)} | {fmt(s['sys_req'], 2)} | "
                     f"{fmt(s['rss_mib'], 1)} | {fmt(s['hs_per_cpu_s'])} | {err} |")
        ours = [lb for lb in labels if lb.startswith("barrage") and lb != "barrage --no-csv"]
        if mode == "expect":
            a, b = st.get("barrage", {}), st.get("barrage +expect", {})
            # Paired per round: the two runs of a round ran back to back.
            pairs = [(x["us_req"], y["us_req"]) for x in cell_rows("barrage", mode, c)
                     for y in cell_rows("barrage +expect", mode, c)
                     if x["round"] == y["round"] and x["us_req"] and y["us_req"]]
            paired = med(100.0 * (y / x - 1) for x, y in pairs)
            ov = f"{paired:+.1f}% (median of per-round pairs)" if paired is not None else "-"
            L.append(f"| **checks overhead** | {mode} | {c} | {ratio(b.get('rps'), a.get('rps'))} | "
                     f"{ratio(b.get('steady_rps'), a.get('steady_rps'))} | {ov} | - | "
                     f"{ratio(b.get('sys_req'), a.get('sys_req'))} | - | - | |")
            continue
        if mode == "scenario":
            # The target: barrage scenario / barrage plain <= 1.5x in µs/req.
            for num, den in (("barrage scenario", "barrage plain"), ("locust", "barrage scenario")):
                if num in st and den in st:
                    a, b = st[num], st[den]
                    L.append(f"| **{num} / {den}** | {mode} | {c} | {ratio(a['rps'], b['rps'])} | - | "
                             f"{ratio(a['us_req'], b['us_req'])} | - | "
                             f"{ratio(a['sys_req'], b['sys_req'])} | "
                             f"{ratio(a['rss_mib'], b['rss_mib'])} | - | |")
            continue
        for other in ("wrk", "h2load"):
            if other not in st:
                continue
            o = st[other]
            for lb in ours:
                s = st[lb]
                nocsv = st.get("barrage --no-csv", {}).get("us_req") if lb == "barrage" else None
                L.append(f"| **{lb} / {other}** | {mode} | {c} | {ratio(s['rps'], o['rps'])} | "
                         f"{ratio(s['steady_rps'], o['steady_rps'])} | {ratio(s['us_req'], o['us_req'])} | "
                         f"{ratio(nocsv, o['us_req'])} | {ratio(s['sys_req'], o['sys_req'])} | "
                         f"{ratio(s['rss_mib'], o['rss_mib'])} | "
                         f"{ratio(s['hs_per_cpu_s'], o['hs_per_cpu_s'])} | |")
    L.append("\nRatio rows are barrage's median over the other tool's median (mode scenario: the "
             "first named over the second): above 1x is better for req/s and hs/CPU-s, below 1x is "
             "better for µs/req, syscalls/req and RSS.\n")
    if any(c.shop for c in cells):
        L.append("Mode scenario: the server is `barrage serve`'s demo shop (one thread, pinned to "
                 f"CPU {SERVER_CPU}, fresh for every run, port {PORT_SHOP}), not nginx: requests are "
                 "what it counted (`served N requests`), its CPU is in `nginx CPU %`, and there is "
                 "no steady req/s. `barrage plain` = keep-alive GET /items?token=T; `barrage "
                 "scenario` = scripts/bench-scenario.toml (login, items, checkout; one JSON and one "
                 "regex capture, cookie jar, no think time); `locust` = scripts/bench_locust.py, "
                 "the same flow (FastHttpUser). The issue's target: scenario / plain µs/req at most "
                 "1.5x.\n")

    L.append("## Raw runs\n")
    L.append("`other %` = CPU used on the two benchmark cores by anything but the client, nginx and "
             "this script during the run, in % of one core (other builds, tests...; loopback softirq "
             "accounting makes it approximate); `*` after it = the cores never got quiet before the "
             "run (QUIET_PCT/QUIET_MAX). `sys req` = requests nginx counted in the syscall counting "
             "run.\n")
    hdr = ["tool", "mode", "conns", "round", "rc", "wall s", "nginx req", "tool req", "tool err",
           "req/s", "steady req/s", "user s", "sys s", "µs/req", "hs/CPU-s", "syscalls", "sys req",
           "syscalls/req", "RSS MiB", "nginx CPU %", "client core %", "server core %", "other %",
           "steal %"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    order = {c.key: i for i, c in enumerate(cells)}
    for r in sorted(rows, key=lambda r: (order[(r["label"], r["mode"], r["conns"])], r["round"])):
        L.append(f"| {r['label']} | {r['mode']} | {r['conns']} | {r['round']} | {r['rc']} | "
                 f"{r['wall']:.2f} | {fmt(r['srv_req'])} | {fmt(r['tool_req'])} | "
                 f"{fmt(r['tool_err'])} | {fmt(r['rps'])} | {fmt(r['steady_rps'])} | {r['user']:.2f} | "
                 f"{r['sys']:.2f} | {fmt(r['us_req'], 2)} | {fmt(r['hs_per_cpu_s'])} | "
                 f"{fmt(r['sys_calls'])} | {fmt(r.get('sys_srv_req'))} | {fmt(r['sys_req'], 2)} | "
                 f"{fmt(r['rss_mib'], 1)} | {fmt(r['nginx_pct'])} | {fmt(r['cli_busy'])} | "
                 f"{fmt(r['srv_busy'])} | {fmt(r['other_pct'])}{'' if r['quiet'] else '*'} | "
                 f"{fmt(r['steal'], 1)} |")

    L.append("\n## Commands\n")
    L.append(f"Every client ran as `taskset -c {CLIENT_CPU} timeout -k 3 LIMIT "
             f"{GNU_TIME} -f %M -o FILE <command>` (LIMIT = DURATION + 20 s; 3x DURATION + 20 s for "
             "count-based h2load), its syscall counting run as `taskset -c "
             f"{CLIENT_CPU} timeout -k 3 LIMIT <counter> <command>`. nginx: `taskset -c {SERVER_CPU} nginx "
             f"-e {STATE}/error.log -p {STATE}/ -c scripts/bench-nginx.conf`. barrage's `-o` is a fresh "
             f"directory under {RUNDIRS}/ per run; the barrage binary was copied to {BARRAGE} at the "
             "start and the copy was measured.\n")
    L.append("```")
    seen = set()
    for r in sorted(rows, key=lambda r: (order[(r["label"], r["mode"], r["conns"])], r["round"])):
        cmd = re.sub(re.escape(RUNDIRS) + r"/\S+", f"{RUNDIRS}/<run>", r["cmd"])
        cmd = cmd.replace(BARRAGE, os.path.relpath(orig, REPO)).replace(HERE + os.sep, "scripts/")
        if (r["label"], r["mode"], r["conns"], cmd) not in seen:
            seen.add((r["label"], r["mode"], r["conns"], cmd))
            L.append(f"[{r['label']} {r['mode']} c={r['conns']}]  {cmd}")
    counters = sorted({r["sys_cmd"] for r in rows if r.get("sys_cmd")})
    for c in counters:
        L.append(f"[syscall counter]  {c}")
    L.append("```")
    L.append(f"\nRaw tool outputs: `{LOGS}/`; all rows as JSON: `{STATE}/runs.json`.")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------


def ports_free():
    busy = []
    for p in (PORT_HTTP, PORT_TLS, PORT_STATUS, PORT_SHOP):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, p))
        except OSError:
            busy.append(p)
        finally:
            s.close()
    if busy:
        sys.exit(f"ports busy on {HOST}: {busy} (another bench.sh running?)")


def on_signal(signum, _frame):
    # Unwind normally, so that a running client is stopped (spawn() terminates
    # its `timeout`, which runs in its own process group) before we exit.
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    cmd = sys.argv[1] if len(sys.argv) > 1 else "run"
    if cmd == "check-ports":
        ports_free()
        return
    if cmd == "wait-nginx":
        for _ in range(100):
            if status_once() is not None:
                return
            time.sleep(0.05)
        sys.exit("nginx did not answer on its stub_status port")
    if cmd != "run":
        sys.exit(f"usage: {sys.argv[0]} [run|check-ports|wait-nginx]")

    nginx_pid = int(env("NGINX_PID", "0"))
    if not nginx_pid:
        sys.exit("NGINX_PID is not set: run scripts/bench.sh, which starts nginx")
    if not {CLIENT_CPU, SERVER_CPU} <= {str(c) for c in os.sched_getaffinity(0)} or CLIENT_CPU == SERVER_CPU:
        sys.exit(f"need two distinct usable CPUs CLIENT_CPU={CLIENT_CPU} SERVER_CPU={SERVER_CPU}")
    if RUNS < 1 or DURATION < 1:
        sys.exit("RUNS and DURATION must be >= 1")
    os.makedirs(LOGS, exist_ok=True)
    shutil.rmtree(RUNDIRS, ignore_errors=True)
    os.makedirs(RUNDIRS, exist_ok=True)
    for f in os.listdir(LOGS):
        os.unlink(os.path.join(LOGS, f))
    started = datetime.datetime.now().astimezone()
    for t in TOOLS:
        if t in ("wrk", "h2load") and not shutil.which(t):
            sys.exit(f"{t} is not installed (bench.sh installs it)")

    notes = []
    if not os.access(GNU_TIME, os.X_OK):
        notes.append(f"{GNU_TIME} missing: max RSS is wait4's ru_maxrss, which includes this "
                     "script's ~13 MiB (apt-get install time)")
    help_text = barrage_help()
    if "Usage" not in help_text:
        sys.exit(f"cannot read `{BARRAGE} run --help`:\n{help_text}")
    cells, skip = build_cells(help_text)
    notes += skip
    for n in notes:
        log(f"note: {n}")

    syscall_tool, syscall_note = None, "not counted (SYSCALLS=off)"
    if SYSCALLS != "off":
        why = perf_usable() if SYSCALLS in ("auto", "perf") else "SYSCALLS=strace"
        if why is None:
            syscall_tool = "perf"
        elif SYSCALLS == "perf":
            sys.exit(f"SYSCALLS=perf but {why}")
        elif shutil.which("strace"):
            syscall_tool = "strace"
            if SYSCALLS != "strace":
                log(f"note: {why}; counting syscalls with strace -f -c instead")
        else:
            log(f"note: {why} and strace is not installed: syscalls not counted")
            syscall_note = f"not counted ({why}; no strace)"
    if syscall_tool:
        which = "every run" if SYSCALL_RUNS == "all" else "the first round's runs"
        syscall_note = (
            f"`{'perf stat -e raw_syscalls:sys_enter' if syscall_tool == 'perf' else 'strace -f -c'}` "
            f"in a separate counting run of the same command after {which} (not inside the timed "
            "run: the tracepoint adds 10-25% client CPU per request)"
            + ("; strace slows the client a lot, so its counts describe a slower run" if syscall_tool == "strace" else ""))

    if not cells:
        sys.exit("nothing to measure")
    per_run = DURATION + SETTLE + 1.5 + 2
    n_runs = len(cells) * RUNS + (len(cells) * (RUNS if SYSCALL_RUNS == "all" else 1) if syscall_tool else 0)
    log(f"{len(cells)} cells x {RUNS} rounds (+ syscall counting runs): about "
        f"{n_runs * per_run / 60:.1f} min, more if the machine is busy")

    bench = Bench(nginx_pid, syscall_tool)
    os.sched_setaffinity(0, {int(CLIENT_CPU)})  # keep this script off the server core
    rows = []
    for rnd in range(1, RUNS + 1):
        for cell in cells:
            hint = next((r["rps"] for r in reversed(rows)
                         if r["mode"] == cell.mode and r["conns"] == cell.conns and r["rps"]), None)
            row = bench.timed(cell, rnd, hint)
            if syscall_tool and (SYSCALL_RUNS == "all" or rnd == 1):
                bench.count_syscalls(cell, rnd, hint, row)
            rows.append(row)
            log(f"[round {rnd}/{RUNS}] {cell.label:18s} {cell.mode:11s} c={cell.conns:<4d} "
                f"{fmt(row['rps']):>9s} req/s  {fmt(row['us_req'], 2):>8s} us/req  "
                f"{fmt(row['sys_req'], 2):>6s} sys/req  {fmt(row['rss_mib'], 1):>5s} MiB  "
                f"nginx {row['nginx_pct']:3.0f}%  other {row['other_pct']:3.0f}%"
                f"{'' if row['quiet'] else ' (never quiet)'}  rc={row['rc']}"
                + (f"  tool req={row['tool_req']}" if row['tool_req'] is not None else ""))
    finished = datetime.datetime.now().astimezone()
    md = report(rows, cells, notes, started, finished, syscall_note)
    os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(md)
    with open(os.path.join(STATE, "runs.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(md)
    log(f"written: {OUT}")


if __name__ == "__main__":
    main()
