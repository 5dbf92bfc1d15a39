"""Hostile backends, loopback only, bounded in count and time: a backend SIGKILLed with 100
sessions streaming through it (every client gets a clean end, nothing crashes, service resumes
when it is back on its port), a backend that accepts and never speaks (implicit TLS: the client's
bytes reach it and idle_timeout ends the session; STARTTLS: the greeting timeout gets the client
the protocol refusal), one that resets right after accept and one that resets mid-stream (clean
close for the client, `reason=backend_error`), and one that floods slow readers (RSS bounded).
Well-behaved sessions through the same worker are served meanwhile. Every test prints one
`FIGURE:` line (stderr) with what it measured."""
import os
import socket
import ssl
import struct
import threading
import time
import unittest

import backends
import certs
import harness
import hostile
import tlsclient
from hostile import figure, rss_kib
from hostile_backend import pattern

GOOD_SOURCE = '127.0.0.2'
ATTACK_SOURCE = '127.0.0.3'


def recv_exactly(s, n, timeout):
    """Read n bytes from a TLS socket. Returns (data, None) when they all came, else (data, how) with
    how as tlsclient.recv_until_close names the end ('close_notify', 'eof_without_close_notify',
    'reset', 'timeout', 'ssl_error:...')."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), 'timeout'
        s.settimeout(left)
        d, how = tlsclient.recv_or_end(s, n - len(data))
        if how:
            return bytes(data), how
        data += d
    return bytes(data), None


def how_it_ended(s, how, timeout):
    """After a TLS stream ended with `how`: 'close_notify+eof' when close_notify was followed by the
    TCP FIN (read on a duplicate of the raw descriptor: nothing but the FIN may follow close_notify,
    and we send nothing that could turn it into a reset), 'close_notify+reset' and so on, else `how`."""
    if how != 'close_notify':
        return how
    raw = socket.socket(fileno=os.dup(s.fileno()))
    try:
        _, raw_how, extra = tlsclient.raw_until_closed(raw, timeout)
    finally:
        raw.close()
    return f'close_notify+{raw_how}' + (f'+{extra}bytes' if extra else '')


def good_echo(port, payload=b'good\r\n'):
    """A well-behaved client on the echo listener: True when its round trip worked."""
    s = tlsclient.tls_connect(port, servername='good.test', source=GOOD_SOURCE)
    try:
        return tlsclient.echo_roundtrip(s, payload) == payload
    finally:
        s.close()


def abort(s):
    """Close with a TCP RST (SO_LINGER 0)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()


class BackendKilledMidStreamTest(unittest.TestCase):
    """100 sessions through a backend in its own process, which is SIGKILLed: 50 at rest after 4
    echo round trips (their backend connections end with a FIN) and 50 mid-stream (16 KiB echo
    round trips of their own seeded bytes; the backend is SIGSTOPped first and each of them sends
    one more chunk, so unread bytes sit in every one of their backend sockets and the kill resets
    them). Every client's stream must end cleanly: close_notify, then the TCP FIN. tlsfront keeps
    running with no error-level line; while the backend is down a new client gets the IMAP refusal
    (`* BYE`, close_notify); once the backend is back on the same port new sessions work."""

    SESSIONS, CHUNK = 100, 16384

    @classmethod
    def setUpClass(cls):
        hostile.raise_nofile(4 * cls.SESSIONS + 1000)
        p = certs.get_pki()
        cls.backend = hostile.BackendProcess('echo').start()
        cls.addClassCleanup(cls.backend.kill)
        cls.port = harness.free_port()
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  server={'connect_timeout': '2s'},
                                  listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.port}',
                                              'protocol': 'imap', 'backend': cls.backend.address}])
        cls.tf = harness.start_tlsfront(cls, cfg, 'hostile-backend-killed')

    def streamer(self, index, warmed, stopped, stalled, outcome):
        """One client: echo round trips until the stream ends (odd index: at rest after 4); once the
        backend is stopped and the echo stalls, one more chunk. outcome[index] = (port, round trips,
        how it ended, bytes that came back wrong)."""
        timeout = 20 * harness.time_scale()
        chunk = pattern('up', index, self.CHUNK)
        port, trips, wrong, extra_sent = None, 0, 0, False
        try:
            s = tlsclient.tls_connect(self.port, servername=f'stream{index}.test', source=GOOD_SOURCE,
                                      timeout=timeout)
        except (ssl.SSLError, OSError) as e:
            outcome[index] = (None, 0, f'connect failed: {e!r}', 0)
            warmed.release()
            return
        try:
            port = s.getsockname()[1]
            how = None
            while not how:
                try:
                    s.sendall(chunk)
                except (ssl.SSLError, OSError) as e:
                    how = f'send failed: {type(e).__name__}'
                    break
                got, deadline = b'', time.monotonic() + timeout
                while len(got) < len(chunk) and not how:
                    part, how = recv_exactly(s, len(chunk) - len(got), 0.5)
                    got += part
                    if how == 'timeout' and time.monotonic() < deadline:
                        how = None
                        if stopped.is_set() and not extra_sent:  # it stays unread at the backend
                            s.sendall(chunk)
                            extra_sent = True
                            stalled.release()
                if got != chunk[:len(got)]:
                    wrong += sum(1 for a, b in zip(got, chunk) if a != b)
                if how:
                    how = how_it_ended(s, how, timeout)
                    break
                trips += 1
                if trips == 4:
                    warmed.release()
                    if index % 2:  # at rest from now on: it waits for the backend's next word
                        _, how = tlsclient.recv_until_close(s, timeout=timeout)
                        how = how_it_ended(s, how, timeout)
            outcome[index] = (port, trips, how, wrong)
        finally:
            if trips < 4:
                warmed.release()
            s.close()

    def test_backend_sigkilled_with_100_sessions(self):
        scale = harness.time_scale()
        mark = self.tf.mark()
        warmed, stalled, stopped = threading.Semaphore(0), threading.Semaphore(0), threading.Event()
        outcome = {}
        threads = [threading.Thread(target=self.streamer, args=(i, warmed, stopped, stalled, outcome), daemon=True)
                   for i in range(self.SESSIONS)]
        for t in threads:
            t.start()
        for i in range(self.SESSIONS):
            self.assertTrue(warmed.acquire(timeout=60 * scale), f'only {i} sessions streaming')
        self.assertFalse(outcome, f'sessions ended before the kill: {list(outcome.values())[:3]}')
        self.backend.sigstop()
        stopped.set()
        for i in range(self.SESSIONS // 2):
            self.assertTrue(stalled.acquire(timeout=30 * scale), f'only {i} streaming sessions stalled')
        self.assertTrue(harness.wait_until(
            lambda: hostile.unread_connections(self.backend.port) >= self.SESSIONS // 2, 10 * scale),
            f'{hostile.unread_connections(self.backend.port)} backend sockets with unread bytes')
        unread = hostile.unread_connections(self.backend.port)
        self.backend.sigkill()
        for t in threads:
            t.join(60 * scale)
        self.assertEqual(len(outcome), self.SESSIONS, 'client threads still running after the kill')
        self.assertTrue(self.tf.running(), 'tlsfront died with its backend')

        # while the backend is down: the protocol refusal
        down_mark = self.tf.mark()
        s = tlsclient.tls_connect(self.port, servername='down.test', source='127.0.0.4')
        data, how = tlsclient.recv_until_close(s, timeout=10 * scale)
        s.close()
        self.assertRegex(data, rb'^\* BYE [^\r\n]*\r\n$')
        self.assertEqual(how, 'close_notify')
        self.tf.wait_for('close', since=down_mark, reason='backend_unreachable',
                         client=lambda c: (c or '').startswith('127.0.0.4:'))

        # back on the same port: new sessions work
        self.backend.start()
        for i in range(10):
            s = tlsclient.tls_connect(self.port, servername=f'back{i}.test', source='127.0.0.5')
            self.assertEqual(tlsclient.echo_roundtrip(s, b'back %d\r\n' % i), b'back %d\r\n' % i)
            s.close()

        ports = {o[0]: o for o in outcome.values() if o[0]}
        reasons, endings = {}, {}
        for port in ports:
            rec = self.tf.close_record(port, since=mark, host=GOOD_SOURCE, timeout=10 * scale)
            key = rec.get('reason') + (f' error={rec["error"]}' if rec.get('error') else '')
            reasons[key] = reasons.get(key, 0) + 1
        for index, (_, trips, how, _) in outcome.items():
            key = f'{"at rest" if index % 2 else "mid-stream"}: {how}'
            endings[key] = endings.get(key, 0) + 1
        errors = [l for l in self.tf.lines if 'level=error' in l]
        trips = [o[1] for i, o in outcome.items() if i % 2 == 0]
        figure(f'backend SIGKILL: {self.SESSIONS} sessions ({self.SESSIONS // 2} at rest, {self.SESSIONS // 2} '
               f'mid-stream after {min(trips)}-{max(trips)} round trips of {self.CHUNK} bytes; {unread} backend '
               f'sockets with unread bytes at the kill); client endings {endings}; close reasons {reasons}; '
               f'tlsfront running, {len(errors)} error lines; refusal while down; 10 sessions after the restart')
        self.assertEqual(errors, [])
        self.assertEqual(len(ports), self.SESSIONS, [o for o in outcome.values() if not o[0]][:3])
        self.assertEqual(sum(o[3] for o in outcome.values()), 0, 'echoed bytes came back wrong')
        self.assertEqual(set(r.split()[0] for r in reasons) - {'done', 'backend_error'}, set(), reasons)
        self.assertEqual(endings, {'mid-stream: close_notify+eof': self.SESSIONS // 2,
                                   'at rest: close_notify+eof': self.SESSIONS // 2},
                         'every client must see close_notify then EOF when the backend dies '
                         f'(close reasons {reasons})')


class ResetOnAcceptBackend(backends.Backend):
    """Accepts, then closes with a RST (SO_LINGER 0) before reading anything."""

    def handle(self, s, c):
        abort(s)


class ResetMidStreamBackend(backends.Backend):
    """Echoes the first line, then, when more comes, closes with a RST (SO_LINGER 0)."""

    def handle(self, s, c):
        f = s.makefile('rb')
        line = f.readline(65536)
        c.received += line
        self.send(s, c, line)
        more = s.recv(65536)
        c.received += more
        f.close()
        abort(s)


class FloodBackend(backends.Backend):
    """Sends as fast as the connection takes it, until tlsfront closes it; Conn.bytes_sent counts."""

    keep_data = False
    BLOCK = bytes(range(256)) * 256

    def handle(self, s, c):
        try:
            while True:
                s.sendall(self.BLOCK)
                c.bytes_sent += len(self.BLOCK)
        except OSError:
            pass


class HostileBackendsTest(unittest.TestCase):
    """One tlsfront (one worker, so every session shares its loop) in front of backends that
    misbehave, and an echo listener whose sessions must keep working meanwhile."""

    IDLE, CONNECT = 3, 2  # idle_timeout, connect_timeout (seconds)

    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.silent = backends.SilentBackend()
        cls.reset_accept = ResetOnAcceptBackend()
        cls.reset_mid = ResetMidStreamBackend()
        cls.flood = FloodBackend()
        cls.echo = backends.EchoBackend()
        for b in (cls.silent, cls.reset_accept, cls.reset_mid, cls.flood, cls.echo):
            cls.addClassCleanup(b.close)
        listeners = []
        cls.ports = {}
        for name, backend, extra in (('silent', cls.silent, {}),
                                     ('silent_starttls', cls.silent, {'starttls': 'required',
                                                                      'greeting_name': 'front.test'}),
                                     ('reset_accept', cls.reset_accept, {}), ('reset_mid', cls.reset_mid, {}),
                                     ('flood', cls.flood, {}), ('echo', cls.echo, {})):
            cls.ports[name] = harness.free_port()
            listeners.append({'name': name, 'listen': f'127.0.0.1:{cls.ports[name]}', 'protocol': 'imap',
                              'backend': backend.address, **extra})
        cfg = harness.make_config(tls={'cert': cls.pki.global_.cert, 'key': cls.pki.global_.key},
                                  server={'workers': 1, 'idle_timeout': f'{cls.IDLE}s',
                                          'connect_timeout': f'{cls.CONNECT}s'},
                                  listeners=listeners)
        cls.tf = harness.start_tlsfront(cls, cfg, 'hostile-backends')

    def setUp(self):
        self.good = tlsclient.tls_connect(self.ports['echo'], servername='parallel.test', source=GOOD_SOURCE)
        self.addCleanup(self.good.close)
        self.good_trips = 0
        self.assert_good_session('before')

    def assert_good_session(self, when):
        msg = b'%s %d\r\n' % (when.encode(), self.good_trips)
        self.assertEqual(tlsclient.echo_roundtrip(self.good, msg, timeout=5), msg,
                         f'the parallel echo session stopped working ({when})')
        self.good_trips += 1

    def tearDown(self):
        self.assert_good_session('after')
        self.assertTrue(good_echo(self.ports['echo']), 'a new session on the echo listener failed')

    def wait_end(self, s, timeout):
        """Read a hostile session until it ends (data, how, seconds waited), with a round trip on the
        parallel session every 0.5 s (idle_timeout would end it otherwise, and it proves the worker
        serves it meanwhile)."""
        t0 = time.monotonic()
        data = b''
        while True:
            chunk, how = tlsclient.recv_until_close(s, timeout=0.5)
            data += chunk
            if how != 'timeout' or time.monotonic() - t0 > timeout:
                return data, how, time.monotonic() - t0
            self.assert_good_session('waiting')

    def close_line(self, port, mark):
        return self.tf.close_record(port, since=mark, host=ATTACK_SOURCE, timeout=10 * harness.time_scale())

    def test_silent_backend_implicit_tls(self):
        """The client's bytes reach a backend that never answers; the client waits for a greeting
        that never comes, and idle_timeout ends the session."""
        mark = self.tf.mark()
        before = self.silent.count()
        s = tlsclient.tls_connect(self.ports['silent'], servername='silent.test', source=ATTACK_SOURCE)
        port = s.getsockname()[1]
        try:
            s.sendall(b'a CAPABILITY\r\n')
            conn = self.silent.wait_conn(before)
            self.assertTrue(harness.wait_until(lambda: conn.received == b'a CAPABILITY\r\n', 5),
                            f'the silent backend got {bytes(conn.received)!r}')
            self.assert_good_session('while the backend is silent')
            data, how, waited = self.wait_end(s, self.IDLE + 10 * harness.time_scale())
        finally:
            s.close()
        rec = self.close_line(port, mark)
        figure(f'silent backend (implicit TLS): client bytes relayed ({len(conn.received)}), nothing back, '
               f'session ended after {waited:.1f}s by {how}, reason={rec.get("reason")} '
               f'duration_ms={rec.get("duration_ms")}; parallel session {self.good_trips} round trips')
        self.assertEqual(data, b'', 'a silent backend cannot have sent anything')
        self.assertNotEqual(how, 'timeout', f'session still open {waited:.1f}s after idle_timeout {self.IDLE}s')
        self.assertEqual(rec.get('reason'), 'idle_timeout', rec)
        self.assertGreaterEqual(int(rec['duration_ms']), (self.IDLE - 0.5) * 1000, rec)
        self.assertEqual(rec.get('bytes_in'), '14', rec)
        self.assertTrue(harness.wait_until(lambda: conn.eof.is_set() or conn.finished.is_set(), 5),
                        'the backend connection stayed open after the session ended')

    def test_silent_backend_starttls(self):
        """STARTTLS: tlsfront waits connect_timeout for the backend's greeting, then gives the client
        the IMAP refusal and close_notify; the client's command after TLS never reaches the backend."""
        mark = self.tf.mark()
        before = self.silent.count()
        raw = socket.create_connection(('127.0.0.1', self.ports['silent_starttls']), timeout=10,
                                       source_address=(ATTACK_SOURCE, 0))
        port = raw.getsockname()[1]
        try:
            self.assertRegex(tlsclient.read_line(raw), rb'^\* OK .*front\.test')
            raw.sendall(b'a STARTTLS\r\n')
            self.assertEqual(tlsclient.read_line(raw), b'a OK Begin TLS negotiation now\r\n')
            s = tlsclient.client_context().wrap_socket(raw, server_hostname='silent.test',
                                                       suppress_ragged_eofs=False)
            s.sendall(b'b CAPABILITY\r\n')
            conn = self.silent.wait_conn(before)
            data, how, waited = self.wait_end(s, self.CONNECT + 10 * harness.time_scale())
            ending = how_it_ended(s, how, 5)
        finally:
            raw.close()
        rec = self.close_line(port, mark)
        figure(f'silent backend (STARTTLS): refusal {data!r} after {waited:.1f}s ({ending}), '
               f'reason={rec.get("reason")} error={rec.get("error")}; backend received {len(conn.received)} bytes')
        self.assertEqual(data, b'* BYE [UNAVAILABLE] Mail service temporarily unavailable\r\n')
        # The refusal and close_notify come first; the TCP end may be a reset rather than a FIN,
        # because tlsfront closes without reading the command the client sent after TLS.
        self.assertIn(ending, ('close_notify+eof', 'close_notify+reset'))
        self.assertEqual(rec.get('reason'), 'backend_refused', rec)
        self.assertEqual(rec.get('error'), 'greeting_timeout', rec)
        self.assertEqual(bytes(conn.received), b'', 'a command reached a backend that never greeted')

    def test_backend_resets_right_after_accept(self):
        mark = self.tf.mark()
        s = tlsclient.tls_connect(self.ports['reset_accept'], servername='reset.test', source=ATTACK_SOURCE)
        port = s.getsockname()[1]
        try:
            data, how = tlsclient.recv_until_close(s, timeout=10 * harness.time_scale())
            ending = how_it_ended(s, how, 5)
        finally:
            s.close()
        rec = self.close_line(port, mark)
        figure(f'backend RST after accept: client got {data!r}, ended by {ending}; reason={rec.get("reason")} '
               f'error={rec.get("error")}')
        self.assertIn(rec.get('reason'), ('backend_error', 'backend_unreachable', 'backend_refused'), rec)
        self.assertEqual(ending, 'close_notify+eof',
                         f'the client of a backend that reset got no clean close (reason={rec.get("reason")})')

    def test_backend_resets_mid_stream(self):
        mark = self.tf.mark()
        s = tlsclient.tls_connect(self.ports['reset_mid'], servername='resetmid.test', source=ATTACK_SOURCE)
        port = s.getsockname()[1]
        try:
            self.assertEqual(tlsclient.echo_roundtrip(s, b'a NOOP\r\n'), b'a NOOP\r\n')
            s.sendall(b'b NOOP\r\n')
            data, how = tlsclient.recv_until_close(s, timeout=10 * harness.time_scale())
            ending = how_it_ended(s, how, 5)
        finally:
            s.close()
        rec = self.close_line(port, mark)
        figure(f'backend RST mid-stream: client got {data!r} after the reset, ended by {ending}; '
               f'reason={rec.get("reason")} error={rec.get("error")}')
        self.assertEqual(rec.get('reason'), 'backend_error', rec)
        self.assertEqual(rec.get('error'), 'ECONNRESET', rec)
        self.assertEqual(data, b'')
        self.assertEqual(ending, 'close_notify+eof',
                         'the client of a backend that reset mid-stream got no clean close')

    def test_flooding_backend_slow_readers(self):
        """4 clients read ~1 MB/s each from a backend that sends as fast as it can: after a fast
        first 4 MiB each (the worker's buffers all in use), tlsfront's RSS stays flat over 8 s
        while the backend goes on offering data at the readers' pace, held back."""
        readers, rate, seconds, warm = 4, 1_000_000, 8.0, 4 << 20
        pid = self.tf.pid
        before = self.flood.count()
        socks = [hostile.tls_connect_small_window(self.ports['flood'], f'flood{i}.test', ATTACK_SOURCE,
                                                  timeout=20 * harness.time_scale()) for i in range(readers)]
        for s in socks:
            self.addCleanup(s.close)
        conns = [self.flood.wait_conn(before + i) for i in range(readers)]
        got = [0] * readers

        def read(i, n):
            while n > 0:
                d = socks[i].recv(min(n, 65536))
                self.assertTrue(d, f'flood session {i} ended')
                got[i] += len(d)
                n -= len(d)

        for i in range(readers):
            read(i, warm)
        start = time.monotonic()
        rss_2s = offered_2s = None
        rss_max, next_echo = 0, 1.0
        while time.monotonic() - start < seconds:
            t = time.monotonic()
            for i in range(readers):
                read(i, rate // 10)
            rss_max = max(rss_max, rss_kib(pid))
            if rss_2s is None and t - start >= 2.0:
                rss_2s, offered_2s = rss_kib(pid), sum(c.bytes_sent for c in conns)
            if t - start >= next_echo:
                self.assert_good_session('during the flood')
                next_echo += 1.0
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))
        rss_end, offered = rss_kib(pid), sum(c.bytes_sent for c in conns)
        ahead = offered - sum(got)
        figure(f'flooding backend: {readers} slow readers read {sum(got)} bytes, backend offered {offered} '
               f'({ahead} ahead: kernel buffers + tlsfront); tlsfront RSS KiB at 2s={rss_2s} max={rss_max} '
               f'end={rss_end} (offered +{(offered - offered_2s) // 1024} KiB meanwhile); '
               f'parallel session {self.good_trips} round trips')
        self.assertLess(ahead, readers * (32 << 20), 'the backend ran far ahead of the readers')
        if not hostile.sanitized():
            self.assertLess(rss_end - rss_2s, 2048, f'RSS grew from {rss_2s} to {rss_end} KiB under the flood')


if __name__ == '__main__':
    unittest.main()
