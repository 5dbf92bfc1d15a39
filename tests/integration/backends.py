"""Plaintext backends for the synthetic tests: Python threads on ephemeral 127.0.0.1 ports (or a
unix socket). Each connection gets its own thread; every socket operation has a timeout and every
loop ends when the peer closes or the server is stopped."""
import hashlib
import socket
import threading
import time

import proxyproto

IO_TIMEOUT = 60.0


class Conn:
    """What a backend saw on one connection (the tests assert on it)."""

    def __init__(self, peer):
        self.peer = peer
        self.received = bytearray()
        self.bytes_received = 0
        self.bytes_sent = 0
        self.eof = threading.Event()      # the backend read EOF from tlsfront
        self.finished = threading.Event()  # the handler returned
        self.error = None
        self.sha256 = hashlib.sha256()


class Backend:
    """Base: accept loop in a thread, one handler thread per connection."""

    keep_data = True  # store received bytes in Conn.received (off for the bulk sinks)

    def __init__(self, unix_path=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.address = 'unix:' + unix_path
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(('127.0.0.1', 0))
            self.port = self.sock.getsockname()[1]
            self.address = f'127.0.0.1:{self.port}'
        self.sock.listen(1024)
        self.sock.settimeout(0.2)
        self.conns = []
        self._lock = threading.Lock()
        self._new_conn = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                s, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            s.settimeout(IO_TIMEOUT)
            c = Conn(peer)
            with self._lock:
                self.conns.append(c)
                self._new_conn.notify_all()
            threading.Thread(target=self._run_handler, args=(s, c), daemon=True).start()

    def _run_handler(self, s, c):
        try:
            self.handle(s, c)
        except Exception as e:  # recorded for the test to look at
            c.error = e
        finally:
            try:
                s.close()
            except OSError:
                pass
            c.finished.set()

    def handle(self, s, c):
        raise NotImplementedError

    # helpers for handlers
    def recv_into_conn(self, s, c, n=65536):
        d = s.recv(n)
        if not d:
            c.eof.set()
            return b''
        c.bytes_received += len(d)
        c.sha256.update(d)
        if self.keep_data:
            c.received += d
        return d

    def send(self, s, c, data):
        s.sendall(data)
        c.bytes_sent += len(data)

    def wait_conn(self, index=0, timeout=10.0):
        """The index-th connection this backend accepted (waits for it)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.conns) <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'backend {self.address}: no connection #{index} within {timeout}s')
                self._new_conn.wait(left)
            return self.conns[index]

    def count(self):
        with self._lock:
            return len(self.conns)

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self._thread.join(timeout=5)


class EchoBackend(Backend):
    """Echoes everything; on EOF it ends its own side too."""

    def handle(self, s, c):
        while True:
            d = self.recv_into_conn(s, c)
            if not d:
                break
            self.send(s, c, d)
        s.shutdown(socket.SHUT_WR)


class GreetingEchoBackend(EchoBackend):
    """Server-first like IMAP/POP3: a greeting line, then echo."""

    def __init__(self, greeting=b'* OK ready\r\n', **kw):
        self.greeting = greeting
        super().__init__(**kw)

    def handle(self, s, c):
        self.send(s, c, self.greeting)
        super().handle(s, c)


class ProxyDumpBackend(GreetingEchoBackend):
    """A backend behind `proxy_protocol = "v1"|"v2"`: records the raw bytes of its first recv()
    right after accept (Conn.first_chunk) and the PROXY header (Conn.header_bytes), then greets and
    echoes. Clients of the tests say nothing before the greeting, so with a header written in one
    piece before any client byte, first_chunk == header_bytes."""

    def handle(self, s, c):
        c.first_chunk = self.recv_into_conn(s, c)
        data = bytes(c.first_chunk)
        while True:
            try:
                need = proxyproto.header_length(data)
            except proxyproto.ParseError:
                need = 0
            if need is not None and (need == 0 or len(data) >= need):
                break
            more = self.recv_into_conn(s, c)
            if not more:
                break
            data += more
        c.header_bytes = data[:need] if need else b''
        super().handle(s, c)

    def wait_header(self, index=0, timeout=10.0):
        """(Conn, proxyproto.Header) of the index-th connection, once its header has been read."""
        c = self.wait_conn(index, timeout)
        deadline = time.monotonic() + timeout
        while not hasattr(c, 'header_bytes') and time.monotonic() < deadline and not c.finished.is_set():
            time.sleep(0.01)
        if not getattr(c, 'header_bytes', b''):
            raise AssertionError(f'backend connection #{index}: no PROXY header; first bytes '
                                 f'{bytes(getattr(c, "first_chunk", b""))[:64]!r}')
        return c, proxyproto.parse(c.header_bytes)


class StreamBackend(Backend):
    """Sends `data` as soon as a client connects, then ends its side (FIN) and drains the client."""

    def __init__(self, data, sndbuf=None, **kw):
        self.data = data
        self.sndbuf = sndbuf
        super().__init__(**kw)

    def handle(self, s, c):
        if self.sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        view = memoryview(self.data)
        for i in range(0, len(view), 65536):
            chunk = view[i:i + 65536]
            s.sendall(chunk)
            c.bytes_sent += len(chunk)
        s.shutdown(socket.SHUT_WR)
        while self.recv_into_conn(s, c):
            pass


class SinkBackend(Backend):
    """Reads until `expect` bytes (or EOF), then answers the hex sha256 of what it got and a newline,
    then closes."""

    keep_data = False

    def __init__(self, expect, **kw):
        self.expect = expect
        super().__init__(**kw)

    def handle(self, s, c):
        while c.bytes_received < self.expect:
            if not self.recv_into_conn(s, c, min(262144, self.expect - c.bytes_received)):
                break
        self.send(s, c, c.sha256.hexdigest().encode() + b'\n')
        s.shutdown(socket.SHUT_WR)


class ReplyAfterEofBackend(Backend):
    """Half-close, client side first: reads until EOF, then (only then) answers
    b'GOT <n>\\n' + `extra`, then closes. A reply proves that the EOF reached the backend and that
    data still flows back afterwards."""

    def __init__(self, extra=b'', **kw):
        self.extra = extra
        super().__init__(**kw)

    def handle(self, s, c):
        while self.recv_into_conn(s, c):
            pass
        self.send(s, c, b'GOT %d\n' % c.bytes_received + self.extra)
        s.shutdown(socket.SHUT_WR)


class CloseFirstBackend(Backend):
    """Half-close, backend side first: sends a greeting, ends its side (FIN) and keeps reading
    until the client ends too."""

    def __init__(self, greeting=b'HELLO\r\n', **kw):
        self.greeting = greeting
        super().__init__(**kw)

    def handle(self, s, c):
        self.send(s, c, self.greeting)
        s.shutdown(socket.SHUT_WR)
        while self.recv_into_conn(s, c):
            pass


class SilentBackend(Backend):
    """Accepts and holds the connection open without saying anything (until EOF)."""

    def handle(self, s, c):
        while self.recv_into_conn(s, c):
            pass


class SmtpBackend(Backend):
    """A minimal SMTP server: enough for swaks/curl/smtplib to submit one message."""

    def __init__(self, **kw):
        self.messages = []
        super().__init__(**kw)

    def handle(self, s, c):
        f = s.makefile('rb')
        self.send(s, c, b'220 backend.example ESMTP test\r\n')
        in_data, lines = False, []
        for _ in range(10000):
            line = f.readline(65536)
            if not line:
                c.eof.set()
                return
            c.received += line
            if in_data:
                if line in (b'.\r\n', b'.\n'):
                    in_data = False
                    self.messages.append(b''.join(lines))
                    lines = []
                    self.send(s, c, b'250 2.0.0 queued\r\n')
                else:
                    lines.append(line)
                continue
            cmd = line.strip().split(b' ', 1)[0].upper()
            if cmd in (b'EHLO', b'HELO'):
                self.send(s, c, b'250-backend.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n')
            elif cmd in (b'MAIL', b'RCPT', b'RSET', b'NOOP'):
                self.send(s, c, b'250 2.1.0 ok\r\n')
            elif cmd == b'DATA':
                in_data = True
                self.send(s, c, b'354 go ahead\r\n')
            elif cmd == b'QUIT':
                self.send(s, c, b'221 2.0.0 bye\r\n')
                return
            else:
                self.send(s, c, b'502 5.5.2 unknown\r\n')


def unfillable_backend():
    """A listening socket whose accept queue is full, so a further connect() hangs in SYN-SENT:
    the backend for connect_timeout tests. Returns (address, cleanup)."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):  # listen(0) queues one connection; the rest of the SYNs are dropped
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(('127.0.0.1', port))
        except BlockingIOError:
            pass
        fillers.append(f)
    time.sleep(0.2)

    def cleanup():
        for f in fillers:
            f.close()
        srv.close()
    return f'127.0.0.1:{port}', cleanup


def random_bytes(n, seed=1):
    import random
    return random.Random(seed).randbytes(n)
