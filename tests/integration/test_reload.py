"""SIGHUP reloads in place: a new snapshot for new connections, established sessions untouched,
listeners opened and closed in place, a failed reload keeps the running config; and the same under
load (tlsfront-bench handshake + pingpong + 1,000 idle sessions across 50 reloads)."""
import json
import os
import re
import socket
import subprocess
import time
import unittest

import backends
import certs
import harness
import tlsclient
from tlsclient import leaf_fingerprint, served_fingerprint


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


class ReloadTest(unittest.TestCase):
    """One tlsfront whose config file the tests rewrite between SIGHUPs."""

    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.echo = backends.EchoBackend()
        cls.addClassCleanup(cls.echo.close)
        cls.port, cls.admin = harness.free_port(), harness.free_port()
        cls.tf = harness.start_tlsfront(cls, cls.config(cls.pki.global_), 'reload')

    @classmethod
    def config(cls, leaf, extra_listeners=(), server=None):
        listeners = [{'name': 'imaps', 'listen': f'127.0.0.1:{cls.port}', 'protocol': 'imap',
                      'backend': cls.echo.address}]
        server = dict(server or {}, admin=f'127.0.0.1:{cls.admin}')
        return harness.make_config(tls={'cert': leaf.cert, 'key': leaf.key}, server=server,
                                   listeners=listeners + list(extra_listeners))

    def reload(self, text, event='reload'):
        return self.tf.reload(text, event)

    def tearDown(self):
        self.reload(self.config(self.pki.global_))

    def test_new_certificate_for_new_connections_established_session_kept(self):
        self.assertEqual(served_fingerprint(self.port), leaf_fingerprint(self.pki.global_.cert))
        s = tlsclient.tls_connect(self.port, servername='kept.test')
        try:
            self.assertEqual(tlsclient.echo_roundtrip(s, b'before\r\n'), b'before\r\n')
            rec = self.reload(self.config(self.pki.listener))
            self.assertGreater(int(rec['generation']), 1, rec)
            self.assertEqual(rec['listeners'], 'imaps', rec)
            self.assertEqual(rec['config'], self.tf.config_path, rec)
            self.assertEqual(served_fingerprint(self.port), leaf_fingerprint(self.pki.listener.cert))
            # the session from before the reload goes on, on its own snapshot
            for i in range(3):
                msg = b'after %d\r\n' % i
                self.assertEqual(tlsclient.echo_roundtrip(s, msg), msg)
        finally:
            s.close()

    def test_failed_reload_keeps_running_config_with_check_message(self):
        broken = self.config(self.pki.listener) + '\n[server\n'
        rec = self.reload(broken, event='reload_failed')
        check = harness.run([harness.TLSFRONT, '--check', '-c', self.tf.config_path])
        self.assertEqual(check.returncode, 1)
        self.assertEqual(rec['error'], check.stderr.decode().strip(), rec)
        self.assertRegex(rec['error'], r'^' + self.tf.config_path + r':\d+:\d+: TOML syntax error')
        self.assertEqual(served_fingerprint(self.port), leaf_fingerprint(self.pki.global_.cert))

        missing = self.config(certs.Leaf('x', '/nonexistent/cert.pem', '/nonexistent/key.pem'))
        rec = self.reload(missing, event='reload_failed')
        self.assertIn("cannot read certificate file '/nonexistent/cert.pem': No such file or directory", rec['error'])
        self.assertRegex(rec['error'], r'^' + self.tf.config_path + r':\d+:\d+: ')

        mismatch = self.config(certs.Leaf('x', self.pki.listener.cert, self.pki.other.key))
        rec = self.reload(mismatch, event='reload_failed')
        self.assertIn('does not match certificate', rec['error'])
        self.assertTrue(self.tf.running())
        self.assertEqual(served_fingerprint(self.port), leaf_fingerprint(self.pki.global_.cert))
        # and a good config after the failures is taken
        self.reload(self.config(self.pki.listener))
        self.assertEqual(served_fingerprint(self.port), leaf_fingerprint(self.pki.listener.cert))

    def test_listener_added_and_removed_in_place(self):
        extra_port = harness.free_port()
        extra = {'name': 'pop3s', 'listen': f'127.0.0.1:{extra_port}', 'protocol': 'pop3',
                 'backend': self.echo.address}
        s = tlsclient.tls_connect(self.port)
        try:
            mark = self.tf.mark()
            rec = self.reload(self.config(self.pki.global_, [extra]))
            self.assertEqual(rec['listeners'], 'imaps,pop3s')
            self.tf.wait_for('listening', since=mark, listener='pop3s', address=f'127.0.0.1:{extra_port}')
            t = tlsclient.tls_connect(extra_port)
            self.assertEqual(tlsclient.echo_roundtrip(t, b'pop\r\n'), b'pop\r\n')
            # removing the listener closes its sockets but not its sessions
            mark = self.tf.mark()
            self.reload(self.config(self.pki.global_))
            self.tf.wait_for('listener_closed', since=mark, address=f'127.0.0.1:{extra_port}')
            self.assertTrue(harness.wait_until(lambda: not harness.port_in_listen_state(extra_port), 5),
                            'the removed listener still listens')
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(('127.0.0.1', extra_port), timeout=2).close()
            self.assertEqual(tlsclient.echo_roundtrip(t, b'still\r\n'), b'still\r\n')
            t.close()
            self.assertEqual(tlsclient.echo_roundtrip(s, b'imap\r\n'), b'imap\r\n')
        finally:
            s.close()

    def test_new_timeouts_apply_to_new_connections_only(self):
        slow_before = socket.create_connection(('127.0.0.1', self.port), timeout=10)
        sport = slow_before.getsockname()[1]
        mark = self.tf.mark()
        self.reload(self.config(self.pki.global_, server={'handshake_timeout': '1s'}))
        slow_after = socket.create_connection(('127.0.0.1', self.port), timeout=10)
        aport = slow_after.getsockname()[1]
        try:
            rec = self.tf.close_record(aport, since=mark, timeout=5)
            self.assertEqual(rec['reason'], 'handshake_timeout', rec)
            self.assertLess(int(rec['duration_ms']), 2500, rec)
            # the connection accepted before the reload keeps its 5 s
            self.assertFalse(self.tf.events('close', since=mark, client=f'127.0.0.1:{sport}'))
            rec = self.tf.close_record(sport, since=mark, timeout=8)
            self.assertGreaterEqual(int(rec['duration_ms']), 4500, rec)
        finally:
            slow_before.close()
            slow_after.close()

    def live_snapshots(self):
        m = re.search(rb'^tlsfront_config_snapshots (\d+)$', harness.http_get(self.admin, '/metrics')[2], re.M)
        return int(m.group(1)) if m else None

    def test_memory_flat_over_100_reloads(self):
        """Old snapshots are freed (the live count, from /metrics, is back to 1) and RSS stays flat.
        RSS only on the normal build: ASan keeps freed memory in its quarantine."""
        text = self.config(self.pki.global_)
        for _ in range(5):  # warm up allocator pools
            self.reload(text)
        before = rss_kib(self.tf.pid)
        for i in range(100):
            self.reload(self.config(self.pki.listener if i % 2 else self.pki.global_))
        # workers let go of old snapshots at their next tick
        self.assertTrue(harness.wait_until(lambda: self.live_snapshots() == 1, 5),
                        f'{self.live_snapshots()} snapshots alive after 100 reloads')
        after = rss_kib(self.tf.pid)
        print(f'\n[reload] RSS before 100 reloads {before} KiB, after {after} KiB; 1 snapshot alive', flush=True)
        if not harness.is_sanitized_binary(harness.TLSFRONT):
            self.assertLess(after - before, 4096, f'RSS grew from {before} to {after} KiB over 100 reloads')
        self.assertEqual(served_fingerprint(self.port), leaf_fingerprint(self.pki.listener.cert))


class ReloadUnderLoadTest(unittest.TestCase):
    """50 SIGHUPs 100-200 ms apart while tlsfront-bench runs handshakes, ping-pong and holds 1,000
    idle sessions: no failed connection, no idle session dropped, and after every reload new
    connections get the certificate of that reload."""

    def test_reload_under_load(self):
        bench = os.path.join(os.path.dirname(harness.TLSFRONT), 'tlsfront-bench')
        if not os.access(bench, os.X_OK):
            self.skipTest(f'{bench} not built')
        pki = certs.get_pki()
        leaves = [pki.global_, pki.listener]
        backend_port, port = harness.free_port(), harness.free_port()
        backend = harness.register_process(subprocess.Popen(
            [bench, 'backend', '--listen', f'127.0.0.1:{backend_port}', '--duration', '120'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.addCleanup(backend.kill)
        self.assertTrue(harness.wait_port_listening('127.0.0.1', backend_port, 10))

        def config(leaf):
            return harness.make_config(tls={'cert': leaf.cert, 'key': leaf.key},
                                       listeners=[{'name': 'load', 'listen': f'127.0.0.1:{port}', 'protocol': 'imap',
                                                   'backend': f'127.0.0.1:{backend_port}'}])
        tf = harness.TlsFront(config(leaves[0]), 'reload-load').start()
        self.addCleanup(tf.kill)
        fingerprints = [leaf_fingerprint(leaf.cert) for leaf in leaves]
        duration = 12 * harness.time_scale()
        common = ['--connect', f'127.0.0.1:{port}', '--threads', '1', '--quiet', '--timeout', '20']
        runs = {
            'idle': [bench, 'idle', *common, '--connections', '1000', '--duration', str(int(duration + 5))],
            'handshake': [bench, 'handshake', *common, '--connections', '8', '--duration', str(int(duration))],
            'pingpong': [bench, 'pingpong', *common, '--connections', '20', '--duration', str(int(duration))],
        }
        procs = {}
        procs['idle'] = subprocess.Popen(runs['idle'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        harness.register_process(procs['idle'])
        # the 1,000 idle sessions are open before the reloads start
        self.assertTrue(harness.wait_until(lambda: self._established(tf, port) >= 1000,
                                           60 * harness.time_scale(), 0.2), 'idle sessions did not open')
        for name in ('handshake', 'pingpong'):
            procs[name] = harness.register_process(
                subprocess.Popen(runs[name], stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        time.sleep(0.5)
        generation_leaf = {}
        for i in range(50):
            leaf_index = (i // 10) % 2  # the certificate changes every tenth reload
            rec = tf.reload(config(leaves[leaf_index]))
            generation_leaf[int(rec['generation'])] = leaf_index
            got = served_fingerprint(port)
            self.assertEqual(got, fingerprints[leaf_index], f'reload {i}: a connection made after '
                                                            f'generation {rec["generation"]} got the old certificate')
            time.sleep(0.1 + 0.1 * (i % 2))
        self.assertFalse(tf.events('reload_failed'))
        results = {}
        for name, p in procs.items():
            out, err = p.communicate(timeout=60 * harness.time_scale())
            self.assertEqual(p.returncode, 0, f'{name}: exit {p.returncode}\n{err.decode()[-2000:]}')
            results[name] = json.loads(out)
        for name, r in results.items():
            self.assertEqual(r['errors'], 0, f'{name}: {r}')
        print(f'\n[reload-under-load] 50 reloads: {results["handshake"]["handshakes"]} handshake connections, '
              f'{results["pingpong"]["completed"]} ping-pong requests on 20 connections, '
              f'{results["idle"]["connections_held"]} of 1000 idle sessions held; errors 0', flush=True)
        self.assertEqual(results['idle']['connections_held'], 1000, results['idle'])
        self.assertGreater(results['handshake']['handshakes'], 0)
        self.assertEqual(tf.stop_and_check(), '')

    @staticmethod
    def _established(tf, port):
        """Established TCP connections to tlsfront's port, from /proc/net/tcp."""
        want = f':{port:04X}'
        count = 0
        with open('/proc/net/tcp') as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == '01' and fields[1].endswith(want):
                    count += 1
        return count


if __name__ == '__main__':
    unittest.main()
