"""Shared pieces of the hostile-load tests (test_hostile_load.py, test_hostile_backends.py):
tlsfront's RSS, the FIGURE: lines, thousands of sockets opened in batches, a real ClientHello, and
the backend that runs in a process of its own (hostile_backend.py)."""
import os
import re
import resource
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import harness
import tlsclient

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    """VmRSS of a process, in KiB (0 once it is gone)."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sanitized():
    """ASan keeps freed memory in its quarantine (256 MiB by default) and BoringSSL frees its record
    buffers after every record, so under ASan RSS grows with the traffic until the quarantine is
    full, whatever tlsfront holds. As test_reload.py does, the RSS bounds are asserted on the normal
    build only; under ASan the figures are measured and printed all the same."""
    return harness.is_sanitized_binary(harness.TLSFRONT)


def figure(text):
    """One `FIGURE:` line on stderr: what a test measured, for the notes that quote it."""
    print(f'FIGURE: {text}', file=sys.stderr, flush=True)


def raise_nofile(want):
    """Raise this process's open-file soft limit to at least `want` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def client_hello_bytes(servername='slowloris.test'):
    """The bytes of a real TLS ClientHello (from Python's ssl over a MemoryBIO)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tlsclient.client_context().wrap_bio(inc, out, server_hostname=servername)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def open_many(port, source, count, batch=500, timeout=30.0):
    """`count` TCP connections to 127.0.0.1:port from address `source`, opened with non-blocking
    connects in batches (each batch connected before the next starts, so the listen backlog never
    overflows). Returns the non-blocking sockets; raises AssertionError if one fails."""
    socks = []
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    try:
        while len(socks) < count:
            pending = {}
            for _ in range(min(batch, count - len(socks))):
                s = socket.socket()
                s.setblocking(False)
                s.bind((source, 0))
                err = s.connect_ex(('127.0.0.1', port))
                if err not in (0, 115):  # EINPROGRESS
                    s.close()
                    raise AssertionError(f'connect from {source}: {os.strerror(err)}')
                pending[s.fileno()] = s
                sel.register(s, selectors.EVENT_WRITE)
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'{len(pending)} connects from {source} still pending after {timeout}s '
                                         f'({len(socks)} of {count} connected)')
                for key, _ in sel.select(min(left, 1.0)):
                    s = key.fileobj
                    sel.unregister(s)
                    del pending[s.fileno()]
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        s.close()
                        raise AssertionError(f'connect from {source}: {os.strerror(err)}')
                    socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        raise
    finally:
        sel.close()
    return socks


class BackendProcess:
    """hostile_backend.py in its own process, on a fixed port (so it can be restarted there)."""

    def __init__(self, mode, port=None):
        self.mode = mode
        self.port = port or harness.free_port()
        self.address = f'127.0.0.1:{self.port}'
        self.proc = None
        self.lines = []
        self._cond = threading.Condition()

    def start(self, timeout=10.0):
        self.lines = []
        self.proc = harness.register_process(subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'hostile_backend.py'), '--port', str(self.port),
             '--mode', self.mode],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        if not self.wait_line(lambda l: l.startswith('LISTENING'), timeout):
            self.kill()
            raise AssertionError(f'{self.mode} backend did not start on {self.port}: {self.lines!r}')
        return self

    def _read(self, proc):
        for raw in iter(proc.stdout.readline, b''):
            with self._cond:
                self.lines.append(raw.decode(errors='replace').rstrip('\n'))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.2))

    def result_lines(self):
        with self._cond:
            return [l for l in self.lines if l.startswith('RESULT ')]

    def sigstop(self):
        """SIGSTOP: it reads nothing more; what arrives stays queued in its sockets."""
        self.proc.send_signal(signal.SIGSTOP)

    def sigkill(self):
        """SIGKILL: the kernel closes its sockets (FIN, or RST where unread bytes were queued)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill(self):
        self.sigkill()


def metrics(admin_port):
    """{(name, frozenset(labels)): value} from tlsfront's /metrics."""
    status, head, body = harness.http_get(admin_port, '/metrics')
    if status != 200:
        raise AssertionError(f'/metrics: {head}')
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if m and not line.startswith('#'):
            labels = frozenset(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or ''))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(sampled, name, **labels):
    return sampled.get((name, frozenset(labels.items())), 0.0)


def tls_connect_small_window(port, servername, source, rcvbuf=65536, timeout=30.0):
    """A blocking TLS client whose receive buffer is set small before the connect (no autotuning):
    a slow reader then holds back the path within a few round trips instead of letting megabytes
    pile up in its own kernel buffer, so the proxy's own buffering is what a test measures."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    raw.bind((source, 0))
    raw.connect(('127.0.0.1', port))
    return tlsclient.client_context().wrap_socket(raw, server_hostname=servername, suppress_ragged_eofs=False)


def unread_connections(port):
    """Established TCP sockets on local port `port` (a backend's side) with bytes in their receive
    queue that the process has not read, from /proc/net/tcp."""
    count = 0
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == '01' and fields[1].endswith(f':{port:04X}') and int(fields[4].split(':')[1], 16) > 0:
                count += 1
    return count
