"""Runs the comparison: crypto ceilings, then every figure for every proxy (interleaved, repeated),
then idle memory on fresh processes, then tlsfront's memory at scale. Everything bounded in time;
every process started here is stopped by PID at the end, whatever happens."""
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time

from . import crypto, openssl_client, peers, procfs, profile, scaling

PROXY_CORE = 0
CLIENT_CORE = 1
BOUND_THRESHOLD = 90.0  # proxy CPU% that counts as a saturated proxy core
CLIENT_THRESHOLD = 85.0  # client core busy% that counts as saturated (io_uring waits show as iowait)

FIGURES = [
    # name, title, bench scenario, certificate, connections, metric, unit, extra args, target ratio
    dict(name="handshake-rsa", title="Full TLS 1.3 handshakes, RSA-2048", scenario="handshake", key="rsa",
         connections=64, metric="handshakes_per_s", unit="handshakes/s", extra=[], target=1.0),
    dict(name="handshake-ecdsa", title="Full TLS 1.3 handshakes, ECDSA P-256", scenario="handshake",
         key="ecdsa", connections=64, metric="handshakes_per_s", unit="handshakes/s", extra=[], target=1.5),
    dict(name="resume", title="Resumed TLS 1.3 handshakes (tickets)", scenario="resume", key="ecdsa",
         connections=64, metric="handshakes_per_s", unit="handshakes/s", extra=[], target=1.5),
    dict(name="download", title="Download (backend to client)", scenario="download", key="ecdsa",
         connections=8, metric="mb_per_s", unit="MB/s", extra=["--bytes", "32M", "--requests", "1000000"],
         target=2.0),
    dict(name="upload", title="Upload (client to backend)", scenario="upload", key="ecdsa",
         connections=8, metric="mb_per_s", unit="MB/s", extra=["--bytes", "32M", "--requests", "1000000"],
         target=2.0),
    dict(name="pingpong", title="Ping-pong, 64-byte lines", scenario="pingpong", key="ecdsa",
         connections=32, metric="requests_per_s", unit="requests/s", extra=[], target=1.3),
    # Latency at other concurrency: judged per repetition (latency.py), not by the request rate.
    dict(name="pingpong-50", title="Ping-pong latency, 50 connections", scenario="pingpong", key="ecdsa",
         connections=50, metric="requests_per_s", unit="requests/s", extra=[], target=None, latency_reps=True),
    dict(name="pingpong-1000", title="Ping-pong latency, 1,000 connections", scenario="pingpong", key="ecdsa",
         connections=1000, metric="requests_per_s", unit="requests/s", extra=[], target=None, latency_reps=True),
    # The same at a fixed arrival rate (open loop), well below every peer's closed-loop rate: what
    # the proxy adds to each request, not how long a saturated queue is.
    dict(name="pingpong-rate-50", title="Ping-pong latency, open loop, 50 connections at 20,000 requests/s",
         scenario="pingpong", key="ecdsa", connections=50, metric="requests_per_s", unit="requests/s",
         extra=["--rate", "20000"], target=None, latency_reps=True, open_loop=True),
    dict(name="pingpong-rate-1000", title="Ping-pong latency, open loop, 1,000 connections at 15,000 requests/s",
         scenario="pingpong", key="ecdsa", connections=1000, metric="requests_per_s", unit="requests/s",
         extra=["--rate", "15000"], target=None, latency_reps=True, open_loop=True),
    # The same bulk transfers with an OpenSSL client (openssl_client.py: tlsfront-openssl-bulk, or
    # s_client processes); --openssl-bytes per connection.
    dict(name="openssl-download", title="Download with an OpenSSL client (backend to client)", scenario="download",
         key="ecdsa", connections=8, metric="mb_per_s", unit="MB/s", extra=[], target=2.0, client="openssl"),
    dict(name="openssl-upload", title="Upload with an OpenSSL client (client to backend)", scenario="upload",
         key="ecdsa", connections=8, metric="mb_per_s", unit="MB/s", extra=[], target=2.0, client="openssl"),
]
FIGURE_NAMES = [f["name"] for f in FIGURES]
SCENARIO_GROUPS = {"handshake": ["handshake-rsa", "handshake-ecdsa"],
                   "openssl": ["openssl-download", "openssl-upload"],
                   "latency": [f["name"] for f in FIGURES if f.get("latency_reps")]}
ALL_SCENARIOS = FIGURE_NAMES + ["profile", "idle", "scale", "scale-workers", "crypto"]


def in_run_order(by_figure):
    """(figure name, value) pairs of a dict keyed by figure name, in the order the figures run:
    results.json keeps its keys sorted, and --report-only reads them so."""
    order = {f["name"]: i for i, f in enumerate(FIGURES)}
    return sorted(by_figure.items(), key=lambda item: order.get(item[0], len(order)))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(argv, timeout=30):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"({e})"


def rotated(proxies, rep):
    """The proxies in the order of repetition `rep`: each one goes first in turn."""
    k = rep % len(proxies)
    return proxies[k:] + proxies[:k]


def run_client(argv, timeout):
    """Runs the load generator: (its stdout, exit status), or ("", -1) when it overran `timeout`."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return p.stdout, p.returncode
    except subprocess.TimeoutExpired:
        return "", -1


def machine_facts():
    cpu = procfs.cpuinfo_field("model name")
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    deb = ""
    if os.path.exists("/etc/debian_version"):
        deb = open("/etc/debian_version").read().strip()
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu_model": cpu, "memory": mem,
            "debian": deb, "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE),
            "tcp_tw_reuse": sh(["sysctl", "-n", "net.ipv4.tcp_tw_reuse"])}


def install_packages(wanted_peers, want_perf):
    """apt-get install whatever is missing (Debian packages only): the peers, bssl-tool and perf."""
    need = ["linux-perf"] if want_perf and shutil.which("perf") is None else []
    checks = {"haproxy": "haproxy", "nginx": "nginx", "hitch": "hitch", "stunnel": "stunnel4"}
    for p in wanted_peers:
        if p in checks and shutil.which(checks[p]) is None:
            need += peers.DEBIAN_PACKAGES[p]
    if "nginx" in wanted_peers and not os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"):
        need.append("libnginx-mod-stream")
    if crypto.find_bssl() is None:
        need.append("android-boringssl")  # ships /usr/bin/bssl-tool
    need = sorted(set(need))
    if not need:
        return "all present"
    log(f"installing from Debian: {' '.join(need)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=600)
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + need, env=env,
                       timeout=900)
    return f"installed {' '.join(need)} (exit {r.returncode})"


def make_certs(dir_):
    os.makedirs(dir_, exist_ok=True)
    certs = {}
    for key, newkey in (("rsa", ["-newkey", "rsa:2048"]),
                        ("ecdsa", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        cert, keyf = os.path.join(dir_, f"{key}.pem"), os.path.join(dir_, f"{key}.key")
        subprocess.run(["openssl", "req", "-x509"] + newkey + ["-nodes", "-days", "30", "-subj", "/CN=bench.test",
                        "-addext", "subjectAltName=DNS:bench.test", "-keyout", keyf, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        combined = os.path.join(dir_, f"{key}-combined.pem")
        with open(combined, "w") as out:
            out.write(open(cert).read())
            out.write(open(keyf).read())
        certs[key] = {"cert": cert, "key": keyf, "combined": combined}
    return certs


def classify(proxy_cpu, client_core):
    """proxy: the proxy's process was on its core ~all the time; client: the client core was busy
    ~all the time while the proxy was not (a client-bound run); neither: latency- or I/O-bound."""
    if proxy_cpu >= BOUND_THRESHOLD:
        return "proxy"
    if client_core >= CLIENT_THRESHOLD:
        return "client"
    return "neither"


class Comparison:
    def __init__(self, args, repo):
        self.a = args
        self.repo = repo
        self.bench = os.path.abspath(args.bench)
        self.tlsfront = os.path.abspath(args.tlsfront)
        self.workdir = os.path.abspath(args.workdir)
        self.backend_proc = None
        self.live = []  # instances to stop whatever happens
        self.results = {"runs": [], "idle": [], "scale": None, "checks": {}, "failures": [],
                        "commands": {}, "configs": {}}
        self.quiet_budget = float(args.quiet_wait)

    # ---- helpers -------------------------------------------------------------------------------

    def port(self, peer, slot):
        return self.a.port_base + 10 * (peers.PEER_NAMES.index(peer) + 1) + slot

    def instance(self, peer, key, slot, tag="", core=PROXY_CORE, **tlsfront_settings):
        return peers.Instance(peer, key, self.a.addr, self.port(peer, slot),
                              (self.a.addr, self.a.port_base), self.certs, self.workdir, self.tlsfront,
                              core, tag, **tlsfront_settings)

    def start_instance(self, inst):
        inst.start()
        self.live.append(inst)
        try:
            facts = inst.check()
        except Exception:
            self.stop_instance(inst)
            raise
        self.results["checks"][inst.name] = facts
        self.results["commands"].setdefault(inst.peer, "taskset -c %d %s" % (PROXY_CORE, " ".join(inst.argv)))
        self.results["configs"].setdefault(inst.peer, inst.config_text)
        return facts

    def stop_instance(self, inst):
        inst.stop()
        if inst in self.live:
            self.live.remove(inst)

    def bench_argv(self, scenario, connect, connections, duration, extra, threads=1, core=CLIENT_CORE):
        pin = ["taskset", "-c", str(core)] if core is not None else []
        return pin + [self.bench, scenario, "--connect", connect, "--connections", str(connections),
                      "--threads", str(threads), "--duration", str(duration), "--tls", "1.3", "--sni",
                      "bench.test", "--quiet"] + extra

    def bench_template(self, scenario, connections, duration, extra, threads=1, core=CLIENT_CORE):
        argv = self.bench_argv(scenario, "ADDR:PORT", connections, duration, extra, threads, core)
        return " ".join("build/tlsfront-bench" if x == self.bench else x for x in argv)

    # ---- set-up and tear-down ------------------------------------------------------------------

    def start_backend(self, seconds):
        listen = f"{self.a.addr}:{self.a.port_base}"
        if not peers.port_free(self.a.addr, self.a.port_base):
            raise RuntimeError(f"backend port {listen} is in use")
        argv = [self.bench, "backend", "--listen", listen, "--threads", "1", "--duration", str(int(seconds))]
        os.makedirs(self.workdir, exist_ok=True)
        self.backend_proc = peers.popen_pinned(argv, CLIENT_CORE, os.path.join(self.workdir, "backend.log"))
        if not procfs.wait_until(lambda: peers.port_open(self.a.addr, self.a.port_base), 10):
            raise RuntimeError("tlsfront-bench backend did not start")
        self.results["commands"]["backend"] = f"taskset -c {CLIENT_CORE} build/tlsfront-bench " + \
            " ".join(argv[1:])

    def cleanup(self):
        for inst in list(self.live):
            try:
                self.stop_instance(inst)
            except Exception as e:  # keep stopping the others
                log(f"stopping {inst.name}: {e}")
        if self.backend_proc is not None:
            peers.stop_group(self.backend_proc)
            self.backend_proc = None

    # ---- one measured run ----------------------------------------------------------------------

    def wait_for_quiet(self):
        """On a shared machine: before a run, wait (bounded, --quiet-wait seconds in all) while other
        work keeps more than --quiet-threshold % of a core busy. Our own processes are idle then."""
        waited = 0.0
        while True:
            c0 = procfs.core_times()
            time.sleep(0.5)
            load = 100.0 * procfs.task_seconds(c0, procfs.core_times()) / 0.5
            if load <= self.a.quiet_threshold or self.quiet_budget <= 0:
                return waited, load
            if waited == 0:
                log(f"other work is using {load:.0f}% of a core: waiting for it (budget {self.quiet_budget:.0f} s)")
            time.sleep(2.0)
            waited += 2.5
            self.quiet_budget -= 2.5

    def measured(self, inst, client):
        """Runs `client()` (the client side of one run: returns its result and its own duration in
        seconds, or None to use the wall time) and measures around it: the proxy's CPU (all its
        processes), both cores, the client's CPU (our children's rusage), the backend's, and the other
        load. Returns (client's result, partial run record)."""
        waited, load_before = self.wait_for_quiet()
        pids = inst.pids()
        backend = procfs.process_tree(self.backend_proc.pid) if self.backend_proc else []
        cpu0, cores0 = procfs.cpu_seconds(pids), procfs.core_times()
        be0 = procfs.cpu_seconds(backend)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        result, dur = client()
        t1 = time.monotonic()
        cpu1, cores1 = procfs.cpu_seconds(pids), procfs.core_times()
        be1 = procfs.cpu_seconds(backend)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        # Everything else that ran on the two cores meanwhile (other work on this shared machine,
        # kernel threads): process time from /proc/stat minus proxy, load generator and backend.
        other_s = max(0.0, procfs.task_seconds(cores0, cores1) - (cpu1 - cpu0) - client_s - (be1 - be0))
        dur = dur or (t1 - t0)
        proxy_cpu = 100.0 * (cpu1 - cpu0) / dur
        core1 = procfs.core_busy_percent(cores0, cores1, CLIENT_CORE)
        rec = {"proxy": inst.peer, "wall_s": t1 - t0, "waited_s": waited, "other_before_pct": load_before,
               "duration_s": dur, "proxy_cpu_pct": proxy_cpu, "client_cpu_pct": 100.0 * client_s / dur,
               "backend_cpu_pct": 100.0 * (be1 - be0) / dur, "other_cpu_pct": 100.0 * other_s / (t1 - t0),
               "core0_busy_pct": procfs.core_busy_percent(cores0, cores1, PROXY_CORE), "core1_busy_pct": core1,
               "bound": classify(proxy_cpu, core1)}
        return result, rec

    def run_figure(self, fig, inst, rep, duration, threads=1, core=CLIENT_CORE, label=None):
        """One tlsfront-bench run of `fig` against `inst`: the run record (value None on failure)."""
        if fig.get("client") == "openssl":
            return openssl_client.run_figure(self, fig, inst, rep)
        label = label or fig["name"]
        jsonfile = os.path.join(self.workdir, "runs", f"{label}-{inst.peer}-{rep}.json")
        os.makedirs(os.path.dirname(jsonfile), exist_ok=True)
        argv = self.bench_argv(fig["scenario"], inst.connect, fig["connections"], duration, fig["extra"],
                               threads, core)
        argv += ["--json", jsonfile]

        def client():
            out, code = run_client(argv, duration + 40)
            try:
                s = json.loads(out)
            except (json.JSONDecodeError, TypeError):
                return (None, code, out), None
            return (s, code, out), s.get("duration_s")

        (s, code, out), rec = self.measured(inst, client)
        rec.update(figure=fig["name"], rep=rep, exit=code)
        if s is None:
            rec.update(value=None, error=f"no JSON summary (exit {code}): {(out or '')[-300:]}")
            return rec
        value = s.get(fig["metric"])
        rec.update(value=value, completed=s.get("completed"), errors=s.get("errors", 0),
                   error_kinds=s.get("error_kinds"),
                   per_core=(value * 100.0 / rec["proxy_cpu_pct"]) if value and rec["proxy_cpu_pct"] > 0 else None)
        if "resumed_share" in s:
            rec["resumed_share"] = s["resumed_share"]
        if "latency_us" in s and s["latency_us"].get("samples"):  # none: never all connections open
            rec["p99_us"] = s["latency_us"].get("p99")
            rec["p50_us"] = s["latency_us"].get("p50")
            rec["p999_us"] = s["latency_us"].get("p999")
        if "handshake_us" in s:
            rec["handshake_p99_us"] = s["handshake_us"].get("p99")
        return rec

    # ---- phases --------------------------------------------------------------------------------

    def phase_crypto(self):
        reps = 1 if self.a.quick else 3
        self.wait_for_quiet()
        log("crypto ceilings on the proxy core: bssl-tool speed")
        b = crypto.bssl_speed(PROXY_CORE, reps, 1)
        log("crypto ceilings: openssl speed")
        o = crypto.openssl_speed(PROXY_CORE, reps, 1)
        log("how the libraries were built: objdump")
        self.results["crypto"] = {"bssl": b, "openssl": o, "reps": reps, "build": crypto.build_evidence()}

    def phase_throughput(self, figures, proxies, profile_bulk):
        keys = sorted({f["key"] for f in figures})
        instances = {}
        for peer in proxies:
            for key in keys:
                inst = self.instance(peer, key, 1 if key == "ecdsa" else 2)
                try:
                    self.start_instance(inst)
                    instances[(peer, key)] = inst
                    log(f"{inst.name} up on {inst.connect} (pid {inst.pid}, processes {inst.pids()}), "
                        f"s_client: {self.results['checks'][inst.name]}")
                except Exception as e:
                    self.results["failures"].append(f"{inst.name}: {e}")
                    log(f"FAILED to start {inst.name}: {e}")
        for fig in figures:
            self.results["commands"][fig["name"]] = self.bench_template(
                fig["scenario"], fig["connections"], self.a.duration, fig["extra"]) \
                if fig.get("client") != "openssl" else openssl_client.command_template(
                    fig, fig["connections"], self.a.openssl_bytes, CLIENT_CORE, openssl_client.bulk_program(self))
            for rep in range(self.a.reps):
                for peer in rotated(proxies, rep):
                    inst = instances.get((peer, fig["key"]))
                    if inst is None:
                        continue
                    if inst.proc.poll() is not None:
                        self.results["failures"].append(f"{inst.name} exited before {fig['name']}: "
                                                        f"{inst.log_tail(300)}")
                        log(f"{inst.name} has exited; restarting it")
                        self.stop_instance(inst)
                        try:
                            self.start_instance(inst)
                        except Exception as e:
                            log(f"restart failed: {e}")
                            instances.pop((peer, fig["key"]))
                            continue
                    rec = self.run_figure(fig, inst, rep, self.a.duration)
                    self.results["runs"].append(rec)
                    if rec.get("value") is None:
                        log(f"{fig['name']} {peer} rep {rep}: {rec.get('error')}")
                    else:
                        extra = ""
                        if "resumed_share" in rec and fig["scenario"] == "resume":
                            extra += f" resumed {100 * rec['resumed_share']:.1f}%"
                        if "p99_us" in rec:
                            extra += f" p99 {rec['p99_us']:.0f} us"
                        if rec.get("p999_us") is not None:
                            extra += f" p99.9 {rec['p999_us']:.0f} us"
                        log(f"{fig['name']:16s} {peer:9s} rep {rep}: {rec['value']:10.1f} {fig['unit']}, "
                            f"proxy {rec['proxy_cpu_pct']:5.1f}% cpu, client core {rec['core1_busy_pct']:5.1f}%, "
                            f"per core-s {rec['per_core'] or 0:10.1f} [{rec['bound']}] other {rec['other_cpu_pct']:4.1f}%"
                            f"{extra}{' errors ' + str(rec['errors']) if rec['errors'] else ''}")
                    time.sleep(0.3)
        if profile_bulk:
            self.results["profile"] = profile.run(self, figures, instances, log)
        for inst in instances.values():
            self.stop_instance(inst)

    def idle_run(self, inst, connections, hold, label, rep):
        """Open `connections` through a freshly started proxy, hold them; RSS (summed over the
        proxy's processes) before and at its peak during the hold; kernel TCP memory too."""
        pids = inst.pids()
        self.wait_for_quiet()
        before = procfs.rss_sum(pids)
        sock0 = procfs.tcp_sockstat()
        jsonfile = os.path.join(self.workdir, "runs", f"{label}-{inst.peer}-{rep}.json")
        os.makedirs(os.path.dirname(jsonfile), exist_ok=True)
        argv = self.bench_argv("idle", inst.connect, connections, hold, ["--pid", str(inst.pid), "--json", jsonfile])
        peak_sock = {"mem_bytes": 0}

        def sock_peak():
            s = procfs.tcp_sockstat()
            if s.get("mem_bytes", 0) > peak_sock["mem_bytes"]:
                peak_sock.update(s)

        with procfs.RssSampler(inst.pid, 0.2, on_sample=sock_peak) as sampler:
            t_launch = time.monotonic()
            out, code = run_client(argv, hold + 180)
        rec = {"proxy": inst.peer, "rep": rep, "connections": connections, "exit": code,
               "rss_before": before, "rss_peak": sampler.peak, "processes": len(pids),
               "tcp_mem_before": sock0.get("mem_bytes"), "tcp_mem_peak": peak_sock.get("mem_bytes"),
               "tcp_inuse_peak": peak_sock.get("inuse")}
        try:
            s = json.loads(out)
        except (json.JSONDecodeError, TypeError):
            rec.update(held=0, per_conn=None, error=f"no JSON summary (exit {code})")
            return rec
        held = s.get("connections_held") or 0
        # RSS while every connection is open and idle: the median of the samples inside the hold
        # (the peak can be a transient of the opening phase: handshake state not yet freed).
        open_s, hold_s = s.get("open_s") or 0, s.get("hold_s") or hold
        hold_rss = sampler.median_between(t_launch + open_s + min(0.5, hold_s / 4), t_launch + open_s + hold_s - 0.1)
        if hold_rss is None:
            hold_rss = sampler.peak
        rec.update(held=held, errors=s.get("errors", 0), open_s=s.get("open_s"), rss_hold=hold_rss,
                   bench_rss_growth_per_conn=s.get("rss_growth_per_connection_bytes"),
                   per_conn=(hold_rss - before) / held if held else None,
                   per_conn_peak=(sampler.peak - before) / held if held else None)
        return rec

    def phase_idle(self, proxies):
        n, hold = self.a.idle_connections, self.a.idle_hold
        reps = self.a.idle_reps
        self.results["commands"]["idle"] = self.bench_template("idle", n, hold, ["--pid", "PID"])
        for rep in range(reps):
            for peer in rotated(proxies, rep):
                self.results["idle"].append(self.fresh_idle_run(peer, 3, f"-idle{rep}", n, hold, "idle", rep))
                time.sleep(0.5)

    def phase_scale(self):
        n, hold = self.a.scale_connections, self.a.scale_hold
        self.results["commands"]["scale"] = self.bench_template("idle", n, hold, ["--pid", "PID"])
        self.results["scale"] = self.fresh_idle_run("tlsfront", 4, "-scale", n, hold, "scale", 0)

    def fresh_idle_run(self, peer, slot, tag, connections, hold, label, rep):
        """idle_run on an instance started for it and stopped after it; logs the outcome."""
        inst = self.instance(peer, "ecdsa", slot, tag)
        try:
            self.start_instance(inst)
            rec = self.idle_run(inst, connections, hold, label, rep)
        except Exception as e:
            rec = {"proxy": peer, "rep": rep, "per_conn": None, "error": str(e)}
        finally:
            self.stop_instance(inst)
        if rec.get("per_conn") is not None:
            log(f"{label} {peer:9s} rep {rep}: {rec['held']} held, RSS {rec['rss_before'] / 2**20:.1f} -> "
                f"{rec['rss_hold'] / 2**20:.1f} MiB (peak {rec['rss_peak'] / 2**20:.1f}) over "
                f"{rec['processes']} process(es): {rec['per_conn']:.0f} B/connection")
        else:
            log(f"{label} {peer} rep {rep}: {rec.get('error')}")
        return rec

    # ---- the whole thing -----------------------------------------------------------------------

    def run(self, scenarios, proxies):
        r = self.results
        r["meta"] = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                     "argv": " ".join(["bench/compare"] + sys.argv[1:]), "quick": self.a.quick,
                     "reps": self.a.reps, "duration": self.a.duration, "idle_connections": self.a.idle_connections,
                     "idle_hold": self.a.idle_hold, "idle_reps": self.a.idle_reps,
                     "scale_connections": self.a.scale_connections, "scale_hold": self.a.scale_hold,
                     "proxies": proxies, "scenarios": scenarios, "bound_threshold": BOUND_THRESHOLD,
                     "client_threshold": CLIENT_THRESHOLD, "quiet_wait": self.a.quiet_wait,
                     "quiet_threshold": self.a.quiet_threshold,
                     "figures": FIGURES, "worker_knob": peers.WORKER_KNOB,
                     "openssl_bytes": self.a.openssl_bytes, "openssl_suite": openssl_client.SUITE,
                     "openssl_client": "tlsfront-openssl-bulk" if openssl_client.bulk_program(self) else "s_client",
                     "git": sh(["git", "-C", self.repo, "describe", "--always", "--dirty"])}
        r["machine"] = machine_facts()
        r["install"] = "skipped" if self.a.no_install else install_packages(proxies, "profile" in scenarios)
        r["versions"] = peers.peer_versions(self.tlsfront)
        if os.path.isdir(self.workdir):
            shutil.rmtree(os.path.join(self.workdir, "peers"), ignore_errors=True)
            shutil.rmtree(os.path.join(self.workdir, "runs"), ignore_errors=True)
        os.makedirs(self.workdir, exist_ok=True)
        self.certs = make_certs(os.path.join(self.workdir, "certs"))
        r["certs"] = "openssl req -x509 -newkey rsa:2048 | -newkey ec -pkeyopt ec_paramgen_curve:P-256, " \
                     "-nodes -days 30 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test"
        started = time.monotonic()
        old_term = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            if "crypto" in scenarios:
                self.phase_crypto()
            figures = [f for f in FIGURES if f["name"] in scenarios]
            workers = "scale-workers" in scenarios and "tlsfront" in proxies
            needs_backend = figures or workers or "idle" in scenarios or "scale" in scenarios
            if needs_backend:
                self.start_backend(self.a.backend_lifetime)
            if figures:
                self.phase_throughput(figures, proxies, "profile" in scenarios)
            if workers:
                self.results["scale_workers"] = scaling.run(self, log)
            if "idle" in scenarios:
                self.phase_idle(proxies)
            if "scale" in scenarios and "tlsfront" in proxies:
                self.phase_scale()
        finally:
            self.cleanup()
            signal.signal(signal.SIGTERM, old_term)
        r["meta"]["elapsed_s"] = time.monotonic() - started
        r["meta"]["quiet_waited_s"] = self.a.quiet_wait - self.quiet_budget
        r["meta"]["leftovers"] = self.leftovers()
        if r["meta"]["leftovers"]:
            log(f"WARNING: processes left behind: {r['meta']['leftovers']}")
        return r

    def leftovers(self):
        """Processes whose command line names our work directory or our backend address."""
        marks = (self.workdir + "/", f"{self.a.addr}:{self.a.port_base}")
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                cmd = open(f"/proc/{name}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(m in cmd for m in marks):
                found.append(f"{name}: {cmd.strip()}")
        return found
