"""The proxies under comparison: config templates, start (pinned, one worker), checks, stop by PID.

Every proxy listens on ADDR:PORT with TLS (1.2 and 1.3 allowed, session tickets on) and passes TCP
through to the same `tlsfront-bench backend`. Each instance runs in its own session (process group)
so that everything it forks can be found and stopped by PID afterwards.
"""
import os
import resource
import signal
import socket
import ssl
import subprocess
import time

from . import procfs

PEER_NAMES = ["tlsfront", "haproxy", "nginx", "hitch", "stunnel"]

DEBIAN_PACKAGES = {
    "haproxy": ["haproxy"],
    "nginx": ["nginx", "libnginx-mod-stream"],
    "hitch": ["hitch"],
    "stunnel": ["stunnel4"],
}

# How each peer is limited to one worker (reported in RESULTS.md).
WORKER_KNOB = {
    "tlsfront": "`[server] workers = 1` (one io_uring thread)",
    "haproxy": "`nbthread 1` (one process, one thread)",
    "nginx": "`worker_processes 1` (master + one worker process)",
    "hitch": "`workers = 1` (manager + one worker process)",
    "stunnel": "no such knob: one process, one thread per connection (PTHREAD model); "
               "taskset keeps all of them on the proxy core",
}

TEMPLATES = {
    "tlsfront": ("tlsfront.toml", """\
[server]
workers = {workers}
log_level = "warn"
shutdown_grace = "1s"
{admin_line}
[tls]
cert = "{cert}"
key = "{key}"
min_version = "1.2"
session_tickets = true

[[listener]]
name = "compare"
listen = "{listen}"
protocol = "imap"
backend = "{backend}"
"""),
    "haproxy": ("haproxy.cfg", """\
global
    nbthread 1
    maxconn 9000
    ssl-default-bind-options ssl-min-ver TLSv1.2
    # HAProxy applies its own suite order, OpenSSL's default (AES-256 first); the others follow
    # the client (AES-128-GCM first). Same suite for everyone:
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m

frontend compare
    bind {listen} ssl crt {combined}
    maxconn 9000
    default_backend compare_backend

backend compare_backend
    server backend {backend}
"""),
    "nginx": ("nginx.conf", """\
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 19000;
}}

stream {{
    server {{
        listen {listen} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        proxy_pass {backend};
        proxy_timeout 10m;
    }}
}}
"""),
    "hitch": ("hitch.conf", """\
frontend = "[{addr}]:{port}"
backend = "[{backend_addr}]:{backend_port}"
pem-file = "{combined}"
workers = 1
daemon = off
user = "_hitch"
group = "_hitch"
tls-protos = TLSv1.2 TLSv1.3
backlog = 4096
ocsp-dir = "{dir}/ocsp"
log-level = 1
syslog = off
"""),
    "stunnel": ("stunnel.conf", """\
foreground = yes
pid =
syslog = no
debug = 3
output = {dir}/stunnel.log

[compare]
accept = {listen}
connect = {backend}
cert = {combined}
sslVersionMin = TLSv1.2
TIMEOUTidle = 600
"""),
}


def command(peer, conf, dir_, tlsfront_bin):
    return {
        "tlsfront": [tlsfront_bin, "-c", conf],
        "haproxy": ["haproxy", "-db", "-f", conf],
        "nginx": ["nginx", "-p", dir_, "-c", conf, "-e", os.path.join(dir_, "error.log")],
        "hitch": ["hitch", "--config=" + conf],
        "stunnel": ["stunnel4", conf],
    }[peer]


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def popen_pinned(argv, core, log_path, cwd=None):
    """Start argv under `taskset -c CORE` (core None: on any core) in a new session, soft fd limit
    raised to the hard one."""
    log = open(log_path, "ab")
    try:
        pin = ["taskset", "-c", str(core)] if core is not None else []
        return subprocess.Popen(pin + argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_raise_nofile)
    finally:
        log.close()


def port_free(addr, port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_open(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_group(proc, grace=10.0):
    """SIGTERM the process we started, wait, then SIGKILL whatever is left of its process group
    (every process in it was started by us: the group is the session we created)."""
    if proc is None:
        return
    pgid = proc.pid
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for attempt in range(50):
        left = group_members(pgid)
        if not left:
            break
        sig = signal.SIGTERM if attempt < 10 else signal.SIGKILL
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


def group_members(pgid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = procfs._stat_fields(int(name))
        if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(name))
    return out


class Instance:
    """One running proxy: peer name, key type (rsa or ecdsa), listen port, its process."""

    def __init__(self, peer, key, addr, port, backend, certs, workdir, tlsfront_bin, core, tag="",
                 workers=1, admin=None):
        self.peer, self.key, self.addr, self.port = peer, key, addr, port
        self.workers = workers  # tlsfront only: [server] workers
        self.admin = admin  # tlsfront only: "ADDR:PORT" of [server] admin (GET /metrics), or None
        self.backend = backend  # (addr, port)
        self.certs = certs
        self.dir = os.path.join(workdir, "peers", f"{peer}-{key}{tag}")
        self.tlsfront_bin = tlsfront_bin
        self.core = core
        self.proc = None
        self.argv = None
        self.config_text = None

    @property
    def name(self):
        return f"{self.peer}/{self.key}"

    @property
    def connect(self):
        return f"{self.addr}:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        return procfs.process_tree(self.proc.pid)

    def write_config(self):
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "ocsp"), exist_ok=True)
        fname, template = TEMPLATES[self.peer]
        c = self.certs[self.key]
        text = template.format(
            dir=self.dir, addr=self.addr, port=self.port, listen=self.connect,
            backend=f"{self.backend[0]}:{self.backend[1]}", backend_addr=self.backend[0],
            backend_port=self.backend[1], cert=c["cert"], key=c["key"], combined=c["combined"],
            workers=self.workers, admin_line=f'admin = "{self.admin}"\n' if self.admin else "")
        path = os.path.join(self.dir, fname)
        with open(path, "w") as f:
            f.write(text)
        self.config_text = text
        return path

    def start(self, timeout=15.0):
        if not port_free(self.addr, self.port):
            raise RuntimeError(f"{self.name}: {self.connect} is already in use")
        conf = self.write_config()
        self.argv = command(self.peer, conf, self.dir, self.tlsfront_bin)
        self.proc = popen_pinned(self.argv, self.core, os.path.join(self.dir, "log.txt"), cwd=self.dir)
        ok = procfs.wait_until(lambda: self.proc.poll() is not None or port_open(self.addr, self.port),
                               timeout)
        if self.proc.poll() is not None or not ok:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {self.log_tail()}")
        # Let multi-process peers finish forking their workers before anyone reads the tree.
        time.sleep(0.3)

    def log_tail(self, n=800):
        try:
            with open(os.path.join(self.dir, "log.txt"), "rb") as f:
                return f.read()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""

    def check(self):
        """openssl s_client: TLS 1.3 handshake done, with the expected signature type; then one
        PING/PONG through the proxy to the backend (Python ssl). Raises if either fails."""
        # Cipher suites in the order the load generator (BoringSSL on AES hardware) offers them, so
        # that the suite reported is the one the measured connections use.
        r = subprocess.run(["timeout", "10", "openssl", "s_client", "-connect", self.connect,
                            "-servername", "bench.test", "-tls1_3", "-brief", "-ciphersuites",
                            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        out = r.stdout + r.stderr
        facts = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                facts[k.strip()] = v.strip()
        if facts.get("Protocol version") != "TLSv1.3":
            raise RuntimeError(f"{self.name}: s_client found no TLS 1.3 handshake:\n{out[-1500:]}")
        sig = facts.get("Peer signature type", facts.get("Signature type", ""))
        want = "ECDSA" if self.key == "ecdsa" else "RSA"
        if want not in sig.upper():
            raise RuntimeError(f"{self.name}: unexpected peer signature type {sig!r}")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.addr, self.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="bench.test") as t:
                t.sendall(b"PING\r\n")
                got = b""
                while not got.endswith(b"\n") and len(got) < 64:
                    chunk = t.recv(64)
                    if not chunk:
                        break
                    got += chunk
        if got != b"PONG\r\n":
            raise RuntimeError(f"{self.name}: PING through the proxy got {got!r}")
        return {"protocol": facts.get("Protocol version"), "cipher": facts.get("Ciphersuite"),
                "signature": sig, "group": facts.get("Server Temp Key", ""),
                "ping": "PONG"}

    def stop(self):
        stop_group(self.proc)


def peer_versions(tlsfront_bin):
    """Version strings of every peer and the TLS library each one runs with."""
    def run(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"({e})"

    def libssl(binary):
        path = run(["sh", "-c", f"command -v {binary}"]) if "/" not in binary else binary
        out = run(["ldd", path])
        libs = [line.split("=>")[1].split("(")[0].strip() for line in out.splitlines()
                if "=>" in line and ("libssl" in line or "libcrypto" in line)]
        return ", ".join(libs)

    v = {}
    v["tlsfront"] = " ".join(run([tlsfront_bin, "--version"]).split())
    v["haproxy"] = run(["haproxy", "-v"]).splitlines()[0]
    v["nginx"] = run(["nginx", "-v"]).splitlines()[0]
    v["hitch"] = run(["hitch", "--version"]).splitlines()[0]
    st = run(["stunnel4", "-version"]).splitlines()
    v["stunnel"] = "; ".join(line.strip() for line in st if line.startswith(("stunnel", "Compiled", "Running")))
    links = {p: libssl(b) for p, b in [("tlsfront", tlsfront_bin), ("haproxy", "haproxy"),
                                        ("nginx", "nginx"), ("hitch", "hitch"), ("stunnel", "stunnel4")]}
    pkgs = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", "haproxy", "nginx",
                "libnginx-mod-stream", "hitch", "stunnel4", "openssl", "libssl3", "android-libboringssl",
                "android-boringssl", "liburing2"])
    return {"peers": v, "links": links, "packages": pkgs.splitlines(),
            "openssl": run(["openssl", "version"])}
