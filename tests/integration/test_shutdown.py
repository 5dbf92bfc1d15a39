"""SIGTERM/SIGINT: stop accepting, let established sessions finish (up to shutdown_grace), exit 0;
sessions at rest get their protocol's goodbye at once, so their clients reconnect elsewhere."""
import signal
import socket
import ssl
import time
import unittest

import backends
import certs
import harness
import tlsclient


class ShutdownTest(unittest.TestCase):
    def start(self, grace):
        p = certs.get_pki()
        self.echo = backends.EchoBackend()
        self.port = harness.free_port()
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  server={'shutdown_grace': grace},
                                  listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{self.port}',
                                              'protocol': 'imap', 'backend': self.echo.address}])
        self.tf = harness.TlsFront(cfg, 'shutdown').start()

    def tearDown(self):
        self.tf.kill()
        self.echo.close()

    def assert_not_accepting(self):
        """A new client must not get a working session: refused, reset or closed."""
        try:
            s = tlsclient.tls_connect(self.port, servername='late.test', timeout=3)
        except (ConnectionRefusedError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            return
        try:
            got = tlsclient.echo_roundtrip(s, b'late\r\n', timeout=2)
        finally:
            s.close()
        self.assertNotEqual(got, b'late\r\n', 'a new session worked after SIGTERM')

    def drain(self, sig):
        self.start('10s')
        s = tlsclient.tls_connect(self.port, servername='draining.test')
        cport = s.getsockname()[1]
        try:
            # without a line end the session is not at rest: the drain lets it go on
            self.assertEqual(tlsclient.echo_roundtrip(s, b'one '), b'one ')
            mark = self.tf.mark()
            self.tf.signal(sig)
            self.tf.wait_for('stopping', since=mark, timeout=5)
            self.assert_not_accepting()
            # the established session keeps working while draining
            for i in range(3):
                msg = b'draining %d ' % i
                self.assertEqual(tlsclient.echo_roundtrip(s, msg), msg, 'session broken during drain')
                time.sleep(0.2)
            self.assertTrue(self.tf.running(), 'tlsfront exited while a session was still open')
        finally:
            s.close()
        t0 = time.monotonic()
        rc = self.tf.wait_exit(8 * harness.time_scale())
        self.assertIsNotNone(rc, f'tlsfront did not exit after the last session ended:\n{self.tf.tail()}')
        self.assertEqual(rc, 0, self.tf.tail())
        self.assertLess(time.monotonic() - t0, 5, 'exit waited for shutdown_grace although no session was left')
        rec = self.tf.close_record(cport, timeout=1)
        self.assertEqual(rec.get('reason'), 'done', rec)
        self.assertTrue(self.tf.events('stopped'), self.tf.tail())

    def test_sigterm_drains_and_exits_0(self):
        self.drain(signal.SIGTERM)

    def test_sigint_drains_and_exits_0(self):
        self.drain(signal.SIGINT)

    def test_sigterm_idle_process_exits_quickly(self):
        self.start('10s')
        t0 = time.monotonic()
        self.tf.signal(signal.SIGTERM)
        rc = self.tf.wait_exit(5 * harness.time_scale())
        self.assertEqual(rc, 0, self.tf.tail())
        self.assertLess(time.monotonic() - t0, 3)
        names = [r.get('event') for r in self.tf.records if r]
        self.assertIn('stopping', names)
        self.assertEqual(names[-1], 'stopped', self.tf.tail())

    def test_shutdown_grace_closes_remaining_sessions(self):
        self.start('1s')
        s = tlsclient.tls_connect(self.port, servername='stays.test')
        cport = s.getsockname()[1]
        try:
            self.assertEqual(tlsclient.echo_roundtrip(s, b'hello (no line end)'), b'hello (no line end)')
            t0 = time.monotonic()
            self.tf.signal(signal.SIGTERM)
            rc = self.tf.wait_exit(8 * harness.time_scale())
            elapsed = time.monotonic() - t0
            self.assertIsNotNone(rc, 'tlsfront still running 8s after SIGTERM with shutdown_grace = 1s')
            self.assertEqual(rc, 0, self.tf.tail())
            self.assertGreater(elapsed, 0.8, f'exited after {elapsed:.2f}s, before shutdown_grace (1s)')
            self.assertLess(elapsed, 5)
            data, how = tlsclient.recv_until_close(s, timeout=3)
            self.assertNotEqual(how, 'timeout', 'the session was not closed at the end of shutdown_grace')
        finally:
            s.close()
        rec = self.tf.close_record(cport, timeout=1)
        self.assertEqual(rec.get('reason'), 'shutdown', rec)


class DrainGoodbyeTest(unittest.TestCase):
    """During the drain a session whose backend had the last word (a whole line) and is silent gets
    `* BYE` / `-ERR` / `421` and close_notify right away; one in the middle of a line does not."""

    GOODBYES = {'imap': b'* BYE [UNAVAILABLE] Server shutting down, please reconnect\r\n',
                'pop3': b'-ERR [SYS/TEMP] Server shutting down, please reconnect\r\n',
                'smtp': b'421 4.3.2 Server shutting down, please try again\r\n'}

    def setUp(self):
        p = certs.get_pki()
        self.backend = backends.GreetingEchoBackend(greeting=b'+OK greeting\r\n')
        self.ports = {proto: harness.free_port() for proto in self.GOODBYES}
        listeners = [{'name': proto, 'listen': f'127.0.0.1:{port}', 'protocol': proto,
                      'backend': self.backend.address} for proto, port in self.ports.items()]
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  server={'shutdown_grace': '4s'}, listeners=listeners)
        self.tf = harness.TlsFront(cfg, 'drain-goodbye').start()

    def tearDown(self):
        self.tf.kill()
        self.backend.close()

    def test_sessions_at_rest_get_goodbye_and_mid_line_sessions_wait(self):
        at_rest = {}
        for proto, port in self.ports.items():
            s = tlsclient.tls_connect(port)
            self.assertEqual(tlsclient.read_line(s), b'+OK greeting\r\n')
            self.assertEqual(tlsclient.echo_roundtrip(s, b'NOOP\r\n'), b'NOOP\r\n')
            at_rest[proto] = s
        mid_line = tlsclient.tls_connect(self.ports['imap'])
        self.assertEqual(tlsclient.read_line(mid_line), b'+OK greeting\r\n')
        self.assertEqual(tlsclient.echo_roundtrip(mid_line, b'a APPEND INBOX'), b'a APPEND INBOX')
        mid_port = mid_line.getsockname()[1]
        t0 = time.monotonic()
        self.tf.signal(signal.SIGTERM)
        try:
            for proto, s in at_rest.items():
                data, how = tlsclient.recv_until_close(s, timeout=3)
                self.assertEqual(data, self.GOODBYES[proto], proto)
                self.assertEqual(how, 'close_notify', proto)
            self.assertLess(time.monotonic() - t0, 2, 'goodbyes waited for shutdown_grace')
            self.assertTrue(harness.wait_until(lambda: len(self.tf.events('close', reason='drained')) == 3, 3),
                            self.tf.tail())
            # in the middle of a line: left alone and still relayed; once the line is complete and the
            # backend has answered it, the goodbye follows
            time.sleep(0.5)
            self.assertFalse(self.tf.events('close', client=f'127.0.0.1:{mid_port}'), 'mid-line session cut')
            self.assertEqual(tlsclient.echo_roundtrip(mid_line, b' (x)\r\n'), b' (x)\r\n')
            data, how = tlsclient.recv_until_close(mid_line, timeout=3)
            self.assertEqual((data, how), (self.GOODBYES['imap'], 'close_notify'))
        finally:
            for s in list(at_rest.values()) + [mid_line]:
                s.close()
        self.assertEqual(self.tf.wait_exit(8 * harness.time_scale()), 0, self.tf.tail())
        self.assertEqual(self.tf.close_record(mid_port, timeout=1)['reason'], 'drained')


if __name__ == '__main__':
    unittest.main()
