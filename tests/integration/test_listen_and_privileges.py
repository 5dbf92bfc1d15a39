"""One listener on IPv4 and IPv6 at once, and the privilege drop to [server] user/group; after the
drop, reloads still read root-only keys and bind ports below 1024 (through the privileged helper)."""
import os
import shutil
import socket
import unittest

import backends
import certs
import harness
import tlsclient


def status_ids(pid):
    """Real/effective/saved/fs uids and gids and the supplementary groups from /proc."""
    ids = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('Uid', 'Gid', 'Groups'):
                ids[key] = value.split()
    return ids


class ListenAndPrivilegesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = cls.pki = certs.get_pki()
        cls.echo = backends.EchoBackend()
        cls.port = harness.free_port(hosts=('127.0.0.1', '::1'))
        # Keys readable by root only, as in production: loaded before the drop.
        cls.dir = harness.new_dir('privileges')
        cls.key = os.path.join(cls.dir, 'key.pem')
        shutil.copy(p.global_.key, cls.key)
        os.chmod(cls.key, 0o600)
        cls.cert = os.path.join(cls.dir, 'cert.pem')
        shutil.copy(p.global_.cert, cls.cert)
        cls.addClassCleanup(cls.echo.close)
        cls.tf = harness.start_tlsfront(cls, cls.config(), 'privileges', workdir=cls.dir)

    @classmethod
    def config(cls, extra_listeners=()):
        server = {'user': 'nobody', 'group': 'nogroup'} if harness.is_root() else {}
        listeners = [{'name': 'dual', 'listen': [f'127.0.0.1:{cls.port}', f'[::1]:{cls.port}'],
                      'protocol': 'imap', 'backend': cls.echo.address}]
        return harness.make_config(tls={'cert': cls.cert, 'key': cls.key}, server=server,
                                   listeners=listeners + list(extra_listeners))

    def test_both_families_listen_and_relay(self):
        addresses = {r['address'] for r in self.tf.events('listening', listener='dual')}
        self.assertEqual(addresses, {f'127.0.0.1:{self.port}', f'[::1]:{self.port}'})
        for host in ('127.0.0.1', '::1'):
            with self.subTest(host=host):
                mark = self.tf.mark()
                s = tlsclient.tls_connect(self.port, host=host, servername='dual.test')
                port = s.getsockname()[1]
                self.assertEqual(tlsclient.echo_roundtrip(s, b'a1 NOOP\r\n'), b'a1 NOOP\r\n')
                s.close()
                shown = f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
                rec = self.tf.wait_for('close', since=mark, client=shown)
                self.assertEqual(rec['reason'], 'done')

    @unittest.skipUnless(harness.is_root(), 'the privilege drop needs root to start with')
    def test_runs_as_nobody_after_loading_a_root_only_key(self):
        rec = self.tf.wait_for('privileges_dropped', timeout=1)
        self.assertEqual(rec['uid'], '65534')
        ids = status_ids(self.tf.pid)
        self.assertEqual(set(ids['Uid']), {'65534'})
        self.assertEqual(set(ids['Gid']), {'65534'})
        self.assertEqual(ids['Groups'], ['65534'])
        # It still serves: the root-only key was loaded before the drop.
        s = tlsclient.tls_connect(self.port, servername='dual.test')
        self.assertEqual(tlsclient.echo_roundtrip(s, b'x\r\n'), b'x\r\n')
        s.close()


    @unittest.skipUnless(harness.is_root(), 'the privilege drop needs root to start with')
    def test_reload_after_drop_reads_root_only_key_and_binds_low_port(self):
        """A renewed certificate whose key is root-only (mode 600, owner root), and a new listener on
        a port below 1024: both need root, which the proxy no longer has."""
        low_port = next(port for port in range(990, 700, -1)
                        if not harness.port_in_listen_state(port) and self._bindable(port))
        renewed = self.pki.listener
        shutil.copy(renewed.cert, self.cert)
        shutil.copy(renewed.key, self.key)
        os.chmod(self.key, 0o600)
        rec = self.tf.reload(self.config([{'name': 'low', 'listen': f'127.0.0.1:{low_port}', 'protocol': 'imap',
                                           'backend': self.echo.address}]))
        self.assertEqual(rec['listeners'], 'dual,low')
        for port in (self.port, low_port):
            self.assertEqual(tlsclient.served_fingerprint(port), tlsclient.leaf_fingerprint(renewed.cert))
            s = tlsclient.tls_connect(port, servername='dual.test')
            self.assertEqual(tlsclient.echo_roundtrip(s, b'renewed\r\n'), b'renewed\r\n')
            s.close()
        # the proxy itself is still unprivileged
        self.assertEqual(set(status_ids(self.tf.pid)['Uid']), {'65534'})
        # back to the start-up config for the other tests
        shutil.copy(self.pki.global_.cert, self.cert)
        shutil.copy(self.pki.global_.key, self.key)
        self.tf.reload(self.config())

    @staticmethod
    def _bindable(port):
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
                return True
            except OSError:
                return False


if __name__ == '__main__':
    unittest.main()
