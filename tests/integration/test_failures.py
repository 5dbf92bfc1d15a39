"""Things going wrong: unreachable backends, timeouts, garbage clients, the connection limit.
Each must close only the connection concerned, with the documented reason in the log."""
import socket
import ssl
import struct
import time
import unittest

import backends
import certs
import harness
import tlsclient


class BackendDownTest(unittest.TestCase):
    """After the handshake the backend cannot be reached: a protocol-shaped refusal, then
    close_notify."""

    @classmethod
    def setUpClass(cls):
        p = certs.get_pki()
        dead = f'127.0.0.1:{harness.closed_port()}'
        cls.unfillable, cls.unfillable_cleanup = backends.unfillable_backend()
        cls.ports = {n: harness.free_port() for n in ('imap', 'pop3', 'smtp', 'slow')}
        cfg = harness.make_config(
            tls={'cert': p.global_.cert, 'key': p.global_.key},
            server={'connect_timeout': '1s'},
            listeners=[{'name': 'imap-down', 'listen': f'127.0.0.1:{cls.ports["imap"]}', 'protocol': 'imap',
                        'backend': dead},
                       {'name': 'pop3-down', 'listen': f'127.0.0.1:{cls.ports["pop3"]}', 'protocol': 'pop3',
                        'backend': dead},
                       {'name': 'smtp-down', 'listen': f'127.0.0.1:{cls.ports["smtp"]}', 'protocol': 'smtp',
                        'backend': dead},
                       {'name': 'imap-slow', 'listen': f'127.0.0.1:{cls.ports["slow"]}', 'protocol': 'imap',
                        'backend': cls.unfillable}])
        cls.addClassCleanup(cls.unfillable_cleanup)
        cls.tf = harness.start_tlsfront(cls, cfg, 'backend-down')

    def refusal(self, which, pattern, error_pattern, timeout=10):
        mark = self.tf.mark()
        s = tlsclient.tls_connect(self.ports[which], servername=f'{which}.example.org')
        port = s.getsockname()[1]
        try:
            data, how = tlsclient.recv_until_close(s, timeout=timeout)
        finally:
            s.close()
        self.assertRegex(data, pattern, f'refusal was {data!r}')
        self.assertEqual(data.count(b'\r\n'), 1, f'expected exactly one CRLF line, got {data!r}')
        self.assertTrue(data.endswith(b'\r\n'), data)
        self.assertEqual(how, 'close_notify', f'refusal must end with close_notify, ended by {how}')
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('reason'), 'backend_unreachable', rec)
        self.assertRegex(rec.get('error', ''), error_pattern, rec)
        self.assertEqual(rec.get('bytes_in'), '0', rec)
        return data

    def test_imap_bye(self):
        self.refusal('imap', rb'^\* BYE [^\r\n]*\r\n$', r'ECONNREFUSED')

    def test_pop3_err(self):
        self.refusal('pop3', rb'^-ERR [^\r\n]*\r\n$', r'ECONNREFUSED')

    def test_smtp_421(self):
        self.refusal('smtp', rb'^421 4\.3\.0 [^\r\n]*\r\n$', r'ECONNREFUSED')

    def test_connect_timeout(self):
        t0 = time.monotonic()
        self.refusal('slow', rb'^\* BYE [^\r\n]*\r\n$', r'connect_timeout|ETIMEDOUT', timeout=10)
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 0.7, 'refused before connect_timeout (1s) could have passed')
        self.assertLess(elapsed, 6)


class TimeoutsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = certs.get_pki()
        cls.echo = backends.EchoBackend()
        cls.port = harness.free_port()
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  server={'handshake_timeout': '1s', 'idle_timeout': '2s'},
                                  listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.port}',
                                              'protocol': 'imap', 'backend': cls.echo.address}])
        cls.addClassCleanup(cls.echo.close)
        cls.tf = harness.start_tlsfront(cls, cfg, 'timeouts')

    def test_handshake_timeout_silent_client(self):
        mark = self.tf.mark()
        s = socket.create_connection(('127.0.0.1', self.port), timeout=5)
        port = s.getsockname()[1]
        try:
            elapsed, how, _ = tlsclient.raw_until_closed(s, timeout=6)
        finally:
            s.close()
        self.assertIn(how, ('eof', 'reset'), 'a client that never spoke was not disconnected within 6s')
        self.assertGreater(elapsed, 0.5, f'closed after {elapsed:.2f}s, before handshake_timeout (1s)')
        self.assertLess(elapsed, 5)
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('reason'), 'handshake_timeout', rec)
        self.assertEqual(rec.get('tls'), '-', rec)

    def test_handshake_timeout_partial_client_hello(self):
        """A client that stops in the middle of its ClientHello is cut off at handshake_timeout too."""
        mark = self.tf.mark()
        hello = client_hello_bytes()
        s = socket.create_connection(('127.0.0.1', self.port), timeout=5)
        port = s.getsockname()[1]
        try:
            s.sendall(hello[:len(hello) // 2])
            elapsed, how, _ = tlsclient.raw_until_closed(s, timeout=6)
        finally:
            s.close()
        self.assertIn(how, ('eof', 'reset'))
        self.assertLess(elapsed, 5)
        self.assertEqual(self.tf.close_record(port, since=mark).get('reason'), 'handshake_timeout')

    def test_idle_timeout(self):
        mark = self.tf.mark()
        s = tlsclient.tls_connect(self.port, servername='idle.test')
        port = s.getsockname()[1]
        try:
            self.assertEqual(tlsclient.echo_roundtrip(s, b'ping\r\n'), b'ping\r\n')
            t0 = time.monotonic()
            data, how = tlsclient.recv_until_close(s, timeout=8)
            elapsed = time.monotonic() - t0
        finally:
            s.close()
        self.assertNotEqual(how, 'timeout', 'idle session still open after 8s (idle_timeout = 2s)')
        self.assertGreater(elapsed, 1.5, f'closed after {elapsed:.2f}s of idleness, idle_timeout is 2s')
        self.assertLess(elapsed, 6)
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('reason'), 'idle_timeout', rec)

    def test_active_session_outlives_idle_timeout(self):
        s = tlsclient.tls_connect(self.port, servername='busy.test')
        try:
            end = time.monotonic() + 4.0  # twice idle_timeout, with traffic every 0.5 s
            i = 0
            while time.monotonic() < end:
                msg = b'tick %d\r\n' % i
                self.assertEqual(tlsclient.echo_roundtrip(s, msg, timeout=3), msg,
                                 f'active session cut after {i} round trips')
                i += 1
                time.sleep(0.5)
        finally:
            s.close()


def client_hello_bytes():
    """The bytes of a real TLS ClientHello (from Python's ssl over a MemoryBIO)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tlsclient.client_context().wrap_bio(inc, out, server_hostname='truncated.test')
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class GarbageClientsTest(unittest.TestCase):
    """Bad clients lose their own connection only; a parallel good session keeps working."""

    @classmethod
    def setUpClass(cls):
        p = certs.get_pki()
        cls.echo = backends.EchoBackend()
        cls.port = harness.free_port()
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  server={'handshake_timeout': '10s'},
                                  listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.port}',
                                              'protocol': 'imap', 'backend': cls.echo.address}])
        cls.addClassCleanup(cls.echo.close)
        cls.tf = harness.start_tlsfront(cls, cfg, 'garbage')

    def with_good_session(self, bad):
        good = tlsclient.tls_connect(self.port, servername='good.test')
        try:
            self.assertEqual(tlsclient.echo_roundtrip(good, b'before\r\n'), b'before\r\n')
            result = bad()
            self.assertEqual(tlsclient.echo_roundtrip(good, b'after\r\n'), b'after\r\n',
                             'the good session broke because of another client')
        finally:
            good.close()
        fresh = tlsclient.tls_connect(self.port, servername='fresh.test')
        try:
            self.assertEqual(tlsclient.echo_roundtrip(fresh, b'new\r\n'), b'new\r\n')
        finally:
            fresh.close()
        return result

    def send_and_expect_close(self, payload):
        s = socket.create_connection(('127.0.0.1', self.port), timeout=5)
        port = s.getsockname()[1]
        try:
            s.sendall(payload)
            elapsed, how, _ = tlsclient.raw_until_closed(s, timeout=5)
        finally:
            s.close()
        self.assertIn(how, ('eof', 'reset'), f'tlsfront kept a garbage connection open ({how})')
        return port

    def test_random_bytes(self):
        mark = self.tf.mark()
        junk = bytearray(backends.random_bytes(4096, seed=11))
        junk[0] = 0x42  # not a TLS record type, so it cannot look like the start of a long record
        port = self.with_good_session(lambda: self.send_and_expect_close(bytes(junk)))
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('reason'), 'handshake_failed', rec)
        self.assertTrue(rec.get('error'), f'handshake_failed without error=: {rec}')

    def test_http_request(self):
        mark = self.tf.mark()
        port = self.with_good_session(lambda: self.send_and_expect_close(
            b'GET / HTTP/1.1\r\nHost: mail.example.org\r\nUser-Agent: test\r\n\r\n'))
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('reason'), 'handshake_failed', rec)

    def test_truncated_client_hello_then_disconnect(self):
        mark = self.tf.mark()
        hello = client_hello_bytes()
        self.assertGreater(len(hello), 100)

        def bad():
            s = socket.create_connection(('127.0.0.1', self.port), timeout=5)
            port = s.getsockname()[1]
            s.sendall(hello[:len(hello) // 2])
            time.sleep(0.2)
            s.close()
            return port
        port = self.with_good_session(bad)
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('reason'), 'client_disconnected', rec)

    def test_connect_and_disconnect_without_a_byte(self):
        mark = self.tf.mark()
        def bad():
            s = socket.create_connection(('127.0.0.1', self.port), timeout=5)
            port = s.getsockname()[1]
            s.close()
            return port
        port = self.with_good_session(bad)
        self.assertEqual(self.tf.close_record(port, since=mark).get('reason'), 'client_disconnected')

    def test_client_reset_mid_session(self):
        """A client that vanishes with a TCP RST in the middle of a session."""
        mark = self.tf.mark()
        def bad():
            s = tlsclient.tls_connect(self.port, servername='reset.test')
            port = s.getsockname()[1]
            self.assertEqual(tlsclient.echo_roundtrip(s, b'x\r\n'), b'x\r\n')
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            s.close()  # no close_notify, and linger 0 turns the close into a RST
            return port
        port = self.with_good_session(bad)
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('reason'), 'client_error', rec)
        self.assertEqual(rec.get('error'), 'ECONNRESET', rec)

    def test_many_garbage_clients_at_once(self):
        def bad():
            socks = []
            for i in range(50):
                s = socket.create_connection(('127.0.0.1', self.port), timeout=5)
                s.sendall(b'\x42' + backends.random_bytes(200, seed=100 + i))
                socks.append(s)
            closed = 0
            for s in socks:
                _, how, _ = tlsclient.raw_until_closed(s, timeout=5)
                closed += how in ('eof', 'reset')
                s.close()
            return closed
        self.assertEqual(self.with_good_session(bad), 50)


class MaxConnectionsTest(unittest.TestCase):
    def test_connection_over_the_limit_is_closed_at_accept(self):
        p = certs.get_pki()
        echo = backends.EchoBackend()
        port = harness.free_port()
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  server={'max_connections': 3},
                                  listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{port}',
                                              'protocol': 'imap', 'backend': echo.address}])
        tf = harness.TlsFront(cfg, 'maxconn')
        sessions = []
        try:
            tf.start()
            for i in range(3):
                s = tlsclient.tls_connect(port, servername=f'ok{i}.test')
                self.assertEqual(tlsclient.echo_roundtrip(s, b'hi\r\n'), b'hi\r\n')
                sessions.append(s)
            # the 4th: TCP connect may succeed (the kernel accepts), but tlsfront closes it
            over = socket.create_connection(('127.0.0.1', port), timeout=5)
            t0 = time.monotonic()
            _, how, _ = tlsclient.raw_until_closed(over, timeout=5)
            over.close()
            self.assertIn(how, ('eof', 'reset'), 'connection 4 of max 3 was not closed')
            self.assertLess(time.monotonic() - t0, 2.0, 'connection over the limit was not closed right away')
            try:
                s4 = tlsclient.tls_connect(port, servername='over.test', timeout=5)
                got = tlsclient.echo_roundtrip(s4, b'x\r\n', timeout=3)
                s4.close()
            except (ssl.SSLError, OSError):
                got = None
            self.assertNotEqual(got, b'x\r\n', 'a 4th TLS session worked with max_connections = 3')
            # existing sessions are unaffected
            for s in sessions:
                self.assertEqual(tlsclient.echo_roundtrip(s, b'still\r\n'), b'still\r\n')
            # after one ends, a new one is accepted
            sessions.pop().close()
            ok = False
            for _ in range(20):
                try:
                    s = tlsclient.tls_connect(port, servername='again.test', timeout=5)
                    ok = tlsclient.echo_roundtrip(s, b'again\r\n') == b'again\r\n'
                    s.close()
                except (ssl.SSLError, OSError):
                    ok = False
                if ok:
                    break
                time.sleep(0.2)
            self.assertTrue(ok, 'no new session accepted after one of the 3 ended')
        finally:
            for s in sessions:
                s.close()
            problem = tf.stop_and_check()
            echo.close()
        self.assertFalse(problem, problem)


if __name__ == '__main__':
    unittest.main()
