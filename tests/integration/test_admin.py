"""The admin endpoint: GET /metrics (checked by `promtool check metrics`, counters that follow what
the test's clients did) and /healthz (503 while draining); hostile HTTP requests get their error and
cost nothing else."""
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import unittest

import backends
import certs
import harness
import tlsclient


def samples(text):
    """{(name, frozenset(labels)): value} from the text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, f'unparsable line {line!r}'
        labels = frozenset(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or ''))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())))


class AdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.echo = backends.EchoBackend()
        cls.addClassCleanup(cls.echo.close)
        cls.port, cls.down_port, cls.admin = harness.free_port(), harness.free_port(), harness.free_port()
        cfg = harness.make_config(
            tls={'cert': cls.pki.global_.cert, 'key': cls.pki.global_.key},
            server={'admin': f'127.0.0.1:{cls.admin}', 'shutdown_grace': '5s'},
            listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.port}', 'protocol': 'imap',
                        'backend': cls.echo.address},
                       {'name': 'down', 'listen': f'127.0.0.1:{cls.down_port}', 'protocol': 'pop3',
                        'backend': f'127.0.0.1:{harness.closed_port()}'}])
        cls.tf = harness.start_tlsfront(cls, cfg, 'admin')
        cls.tf.wait_for('admin', address=f'127.0.0.1:{cls.admin}')

    def metrics(self):
        status, head, body = harness.http_get(self.admin, '/metrics')
        self.assertEqual(status, 200, head)
        self.assertIn('Content-Type: text/plain; version=0.0.4', head)
        return body.decode()

    def test_healthz(self):
        status, _, body = harness.http_get(self.admin, '/healthz')
        self.assertEqual((status, body), (200, b'ok\n'))
        self.assertEqual(harness.http_get(self.admin, '/nope')[0], 404)

    def test_metrics_follow_the_clients_and_pass_promtool(self):
        before = samples(self.metrics())
        # one relayed session with 7 bytes each way, held open (idle) while we look
        s = tlsclient.tls_connect(self.port)
        self.assertEqual(tlsclient.echo_roundtrip(s, b'hello\r\n'), b'hello\r\n')
        time.sleep(0.2)
        during = samples(self.metrics())
        self.assertEqual(value(during, 'tlsfront_connections_idle', listener='imaps'), 1)
        self.assertEqual(value(during, 'tlsfront_connections_active', listener='imaps'), 1)
        s.close()
        # a client that speaks no TLS, a TLS 1.2 session, a backend that is down
        with socket.create_connection(('127.0.0.1', self.port), timeout=5) as raw:
            raw.sendall(b'GET / HTTP/1.0\r\n\r\n')
            raw.recv(100)
        ctx = tlsclient.client_context(max_version=ssl.TLSVersion.TLSv1_2)
        t = tlsclient.tls_connect(self.port, ctx=ctx)
        self.assertEqual(tlsclient.echo_roundtrip(t, b'x\r\n'), b'x\r\n')
        t.close()
        d = tlsclient.tls_connect(self.down_port)
        tlsclient.recv_until_close(d, timeout=5)
        d.close()
        time.sleep(0.3)
        text = self.metrics()
        after = samples(text)

        def grew(name, by, **labels):
            old = value(before, name, **labels) or 0
            new = value(after, name, **labels)
            self.assertIsNotNone(new, f'{name} {labels} missing')
            self.assertGreaterEqual(new - old, by, f'{name} {labels}: {old} -> {new}')

        grew('tlsfront_connections_accepted_total', 3, listener='imaps')
        grew('tlsfront_handshakes_total', 1, listener='imaps', version='TLSv1.3', resumed='false')
        grew('tlsfront_handshakes_total', 1, listener='imaps', version='TLSv1.2', resumed='false')
        grew('tlsfront_handshake_failures_total', 1, listener='imaps', cause='not_tls')
        grew('tlsfront_connections_closed_total', 2, listener='imaps', reason='done')
        grew('tlsfront_connections_closed_total', 1, listener='imaps', reason='handshake_failed')
        grew('tlsfront_bytes_total', 10, listener='imaps', direction='from_client')
        grew('tlsfront_bytes_total', 10, listener='imaps', direction='to_client')
        grew('tlsfront_backend_connect_failures_total', 1, listener='down')
        grew('tlsfront_connections_closed_total', 1, listener='down', reason='backend_unreachable')
        grew('tlsfront_handshake_duration_seconds_count', 2, listener='imaps')
        grew('tlsfront_backend_connect_duration_seconds_count', 2, listener='imaps')
        self.assertEqual(value(after, 'tlsfront_connections_idle', listener='imaps'), 0)
        self.assertEqual(value(after, 'tlsfront_connections_active', listener='imaps'), 0)
        self.assertEqual(value(after, 'tlsfront_workers'), 2)
        # per worker, over every listener: as many as all listeners together
        per_worker = [value(after, 'tlsfront_worker_connections_accepted_total', worker=str(w)) for w in (0, 1)]
        self.assertNotIn(None, per_worker)
        total = sum(v for (n, labels), v in after.items() if n == 'tlsfront_connections_accepted_total')
        self.assertEqual(sum(per_worker), total)
        self.assertGreater(value(after, 'process_resident_memory_bytes'), 1 << 20)
        # the certificate's notAfter, as openssl reads it
        r = harness.run(['openssl', 'x509', '-noout', '-enddate', '-dateopt', 'iso_8601', '-in',
                         self.pki.global_.cert])
        end = r.stdout.decode().strip().split('=', 1)[1]
        expected = time.mktime(time.strptime(end, '%Y-%m-%d %H:%M:%SZ')) - time.timezone
        self.assertEqual(value(after, 'tlsfront_certificate_not_after_timestamp_seconds',
                               path=self.pki.global_.cert, cn='global.test', key='RSA-2048'), expected)
        if shutil.which('promtool'):
            p = subprocess.run(['promtool', 'check', 'metrics'], input=text.encode(), capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
            print(f'\n[admin] promtool check metrics: exit 0, {len(text.splitlines())} lines', flush=True)
        else:
            self.fail('promtool not installed (package prometheus; scripts/install-deps.sh installs it)')

    def test_reload_counters_and_generation(self):
        before = samples(self.metrics())
        generation = value(before, 'tlsfront_config_generation')
        self.tf.reload()
        after = samples(self.metrics())
        self.assertEqual(value(after, 'tlsfront_config_generation'), generation + 1)
        self.assertEqual(value(after, 'tlsfront_reloads_total', result='ok'),
                         value(before, 'tlsfront_reloads_total', result='ok') + 1)
        self.assertGreater(value(after, 'tlsfront_last_reload_success_timestamp_seconds'), time.time() - 60)
        self.assertTrue(harness.wait_until(
            lambda: value(samples(self.metrics()), 'tlsfront_config_snapshots') == 1, 5),
            'the old snapshot was not freed')

    def test_hostile_requests(self):
        self.assertEqual(harness.http_request(self.admin, b'POST /metrics HTTP/1.1\r\nHost: a\r\n\r\n')[0], 405)
        self.assertEqual(harness.http_request(self.admin, b'\x16\x03\x01\x02\x00garbage\r\n\r\n')[0], 400)
        self.assertEqual(harness.http_request(self.admin, b'GET /' + b'a' * 2000 + b' HTTP/1.1\r\nHost: a\r\n\r\n')[0], 414)
        self.assertEqual(harness.http_request(self.admin, b'GET / HTTP/1.1\r\nHost: a\r\nX: ' + b'y' * 9000 + b'\r\n\r\n')[0], 431)
        # 40 silent connections: the endpoint still answers (once their deadline frees it) and the
        # proxy is not affected at all
        silent = [socket.create_connection(('127.0.0.1', self.admin), timeout=5) for _ in range(40)]
        try:
            s = tlsclient.tls_connect(self.port)
            self.assertEqual(tlsclient.echo_roundtrip(s, b'busy\r\n'), b'busy\r\n')
            s.close()
            t0 = time.monotonic()
            self.assertEqual(harness.http_get(self.admin, '/healthz')[0], 200)
            self.assertLess(time.monotonic() - t0, 8)
        finally:
            for c in silent:
                c.close()

    def test_zz_healthz_503_while_draining(self):
        s = tlsclient.tls_connect(self.port)
        self.assertEqual(tlsclient.echo_roundtrip(s, b'mid-line'), b'mid-line')  # not at rest: holds the drain
        self.tf.signal(signal.SIGTERM)
        try:
            self.assertTrue(harness.wait_until(lambda: harness.http_get(self.admin, '/healthz')[0] == 503, 5),
                            'healthz did not turn 503 during the drain')
            self.assertEqual(harness.http_get(self.admin, '/healthz')[2], b'draining\n')
            self.assertEqual(value(samples(self.metrics()), 'tlsfront_draining'), 1)
        finally:
            s.close()
        self.assertEqual(self.tf.wait_exit(10 * harness.time_scale()), 0, self.tf.tail())


if __name__ == '__main__':
    unittest.main()
