"""TLS clients for the tests: `openssl s_client` (to see which certificate came back), Python ssl
sockets, a MemoryBIO client that controls exactly when close_notify and FIN are sent, and asyncio
streams for bulk and concurrent transfers."""
import asyncio
import hashlib
import re
import socket
import ssl
import time

import harness


# ---------------------------------------------------------------------------------------------
# openssl s_client

class SClientResult:
    def __init__(self, rc, out, err):
        self.rc = rc
        self.out = out
        self.err = err
        m = re.search(r'^subject=.*?CN\s*=\s*([^,/\n]+)', out, re.M)
        self.cn = m.group(1).strip() if m else None
        m = re.search(r'^\s*Protocol\s*:\s*(\S+)', out, re.M) or re.search(r'^New, (TLSv[\d.]+),', out, re.M)
        self.protocol = m.group(1) if m else None
        m = re.search(r'^Server public key is (\d+) bit', out, re.M)
        self.key_bits = int(m.group(1)) if m else None
        m = re.search(r'^Peer signature type:\s*(\S+)', out, re.M)
        self.sig_type = m.group(1) if m else None
        m = re.search(r'Verify return code:\s*(\d+)', out)
        self.verify_code = int(m.group(1)) if m else None
        m = re.search(r'alert number (\d+)', err + out)  # a fatal alert the server sent
        self.alert = int(m.group(1)) if m else None
        m = re.search(r'^ALPN protocol: (\S+)', out, re.M)
        self.alpn = m.group(1) if m else None

    @property
    def handshake_ok(self):
        return self.rc == 0 and self.cn is not None and self.protocol not in (None, '(NONE)')

    def describe(self):
        return (f'rc={self.rc} cn={self.cn} protocol={self.protocol} alert={self.alert} alpn={self.alpn}'
                f'\n--- stdout ---\n{self.out[-3000:]}'
                f'\n--- stderr ---\n{self.err[-2000:]}')


def s_client(port, host='127.0.0.1', servername=None, cafile=None, extra=(), stdin=b'', timeout=15):
    """servername=None: send no SNI at all (-noservername)."""
    cmd = ['openssl', 's_client', '-connect', f'{host}:{port}']
    if servername is None:
        cmd.append('-noservername')
    else:
        cmd += ['-servername', servername]
    if cafile:
        cmd += ['-CAfile', cafile, '-verify_return_error']
    cmd += list(extra)
    r = harness.run(cmd, input=stdin, timeout=timeout * harness.time_scale())
    return SClientResult(r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace'))


# ---------------------------------------------------------------------------------------------
# Python ssl

def client_context(cafile=None, min_version=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def tls_connect(port, host='127.0.0.1', servername='test.example', ctx=None, timeout=10.0, source=None,
                prefix=b''):
    """A blocking TLS socket. suppress_ragged_eofs=False, so recv() returns b'' only after a real
    close_notify and raises SSLEOFError on a bare TCP close. source: local address to bind;
    prefix: bytes sent in clear before the ClientHello (e.g. a PROXY header from a balancer)."""
    raw = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
    raw.settimeout(timeout)
    if source:
        raw.bind((source, 0))
    raw.connect((host, port))
    if prefix:
        raw.sendall(prefix)
    s = (ctx or client_context()).wrap_socket(raw, server_hostname=servername, suppress_ragged_eofs=False)
    return s


def recv_or_end(s, n):
    """One recv of up to n bytes: (data, None), or (b'', how) when the peer ended the stream, how
    being 'close_notify', 'eof_without_close_notify' (or 'eof' on a plain socket), 'reset',
    'timeout' or 'ssl_error:<reason>'."""
    try:
        d = s.recv(n)
    except socket.timeout:
        return b'', 'timeout'
    except ssl.SSLZeroReturnError:
        return b'', 'close_notify'
    except ssl.SSLEOFError:
        return b'', 'eof_without_close_notify'
    except ssl.SSLError as e:
        return b'', f'ssl_error:{e.reason}'
    except (ConnectionResetError, BrokenPipeError):
        return b'', 'reset'
    if not d:
        return b'', 'close_notify' if isinstance(s, ssl.SSLSocket) else 'eof'
    return d, None


def recv_until_close(s, timeout=10.0, limit=64 << 20):
    """Read until the peer ends the connection. Returns (data, how) with how as recv_or_end names
    the end."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while time.monotonic() < deadline and len(data) < limit:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        d, how = recv_or_end(s, 65536)
        if how:
            return bytes(data), how
        data += d
    return bytes(data), 'timeout'


def raw_until_closed(sock, timeout=5.0):
    """For a plain TCP socket: read (and discard) until EOF or reset. Returns (elapsed seconds, how,
    bytes read); how is 'eof', 'reset' or 'timeout'."""
    start = time.monotonic()
    deadline = start + timeout
    total = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return time.monotonic() - start, 'timeout', total
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return time.monotonic() - start, 'timeout', total
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start, 'reset', total
        if not d:
            return time.monotonic() - start, 'eof', total
        total += len(d)


def echo_roundtrip(s, payload, timeout=10.0):
    """Send payload on a TLS socket and read the same number of bytes back."""
    s.sendall(payload)
    got = bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < len(payload):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            d = s.recv(len(payload) - len(got))
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not d:
            break
        got += d
    return bytes(got)


def read_line(s, timeout=10.0, limit=65536):
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while not buf.endswith(b'\n') and len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            d = s.recv(1)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not d:
            break
        buf += d
    return bytes(buf)


# ---------------------------------------------------------------------------------------------
# MemoryBIO client: full control over close_notify vs TCP FIN.

class BioTls:
    def __init__(self, port, host='127.0.0.1', servername='halfclose.test', ctx=None, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = (ctx or client_context()).wrap_bio(self.incoming, self.outgoing, server_side=False,
                                                      server_hostname=servername)
        self.tcp_eof = False

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('BioTls: deadline passed')
        self.sock.settimeout(left)
        d = self.sock.recv(65536)
        if not d:
            self.tcp_eof = True
            self.incoming.write_eof()
        else:
            self.incoming.write(d)

    def handshake(self):
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._fill(deadline)

    def write(self, data):
        self.obj.write(data)
        self._flush()

    def send_close_notify(self):
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
        self._flush()

    def shutdown_tcp_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def read_until_close(self, timeout=None, want=None):
        """Read application data until close_notify (or EOF/timeout). want=N stops after N bytes.
        Returns (data, how) with how in 'close_notify', 'eof_without_close_notify', 'timeout',
        'reset', 'enough'."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data = bytearray()
        while True:
            if want is not None and len(data) >= want:
                return bytes(data), 'enough'
            try:
                d = self.obj.read(65536)
                if not d:
                    return bytes(data), 'close_notify'
                data += d
                continue
            except ssl.SSLZeroReturnError:
                return bytes(data), 'close_notify'
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLEOFError:
                return bytes(data), 'eof_without_close_notify'
            self._flush()
            if self.tcp_eof:
                return bytes(data), 'eof_without_close_notify'
            try:
                self._fill(deadline)
            except socket.timeout:
                return bytes(data), 'timeout'
            except ConnectionResetError:
                return bytes(data), 'reset'

    def wait_tcp_eof(self, timeout=5.0):
        """After close_notify: wait for the TCP FIN (recv returns b''). Bytes that arrive meanwhile
        are fed to the TLS object (they must be nothing but records after close_notify)."""
        deadline = time.monotonic() + timeout
        while not self.tcp_eof:
            try:
                self._fill(deadline)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# asyncio

_default_ctx = None


def default_context():
    global _default_ctx
    if _default_ctx is None:
        _default_ctx = client_context()
    return _default_ctx


async def open_tls(port, host='127.0.0.1', servername='async.test', ctx=None, rcvbuf=None, timeout=30.0):
    if rcvbuf:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, (host, port))
        return await asyncio.wait_for(asyncio.open_connection(
            sock=raw, ssl=ctx or default_context(), server_hostname=servername), timeout)
    return await asyncio.wait_for(asyncio.open_connection(
        host, port, ssl=ctx or default_context(), server_hostname=servername), timeout)


async def close_writer(writer, timeout=5.0):
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout)
    except (asyncio.TimeoutError, ssl.SSLError, OSError):
        pass


def run_async(coro, timeout):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def leaf_fingerprint(pem_path):
    """SHA-256 of the first certificate in a PEM file (the leaf of a chain)."""
    with open(pem_path) as f:
        first = f.read().split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n'
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def served_fingerprint(port, servername='fingerprint.test'):
    """SHA-256 of the leaf certificate a new connection is served."""
    s = tls_connect(port, servername=servername)
    try:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
    finally:
        s.close()
