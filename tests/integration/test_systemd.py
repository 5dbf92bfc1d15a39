"""systemd integration without a running systemd: socket activation through systemd-socket-activate
(sockets matched to listeners by address and by name, kept across reloads) and sd_notify to a
NOTIFY_SOCKET the test reads (READY=1, STATUS=, RELOADING=1 + MONOTONIC_USEC, STOPPING=1)."""
import os
import shutil
import signal
import socket
import time
import unittest

import backends
import certs
import harness
import tlsclient


class NotifySocket:
    """A unix datagram socket standing in for systemd's notification socket."""

    def __init__(self, directory):
        self.path = os.path.join(directory, 'notify.sock')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait_for(self, prefix, timeout=10.0):
        deadline = time.monotonic() + timeout * harness.time_scale()
        while True:
            for m in self.messages:
                if m.startswith(prefix):
                    self.messages.remove(m)
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f'no notification starting with {prefix!r}; got {self.messages}')
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


@unittest.skipUnless(shutil.which('systemd-socket-activate'), 'systemd-socket-activate not installed (systemd)')
class SystemdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = certs.get_pki()
        cls.echo = backends.EchoBackend()
        cls.addClassCleanup(cls.echo.close)
        cls.by_address, cls.by_name, cls.own = harness.free_port(), harness.free_port(), harness.free_port()
        cfg = harness.make_config(
            tls={'cert': p.global_.cert, 'key': p.global_.key},
            listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.by_address}', 'protocol': 'imap',
                        'backend': cls.echo.address},
                       {'name': 'pop3s', 'listen': f'127.0.0.1:{cls.own}', 'protocol': 'pop3',
                        'backend': cls.echo.address}])
        cls.tf = harness.TlsFront(cfg, 'systemd')
        cls.notify = NotifySocket(cls.tf.workdir)
        cls.addClassCleanup(cls.notify.close)
        # fd 3 = 127.0.0.1:by_address named imaps (matches by address), fd 4 = by_name named pop3s
        # (an extra socket for the pop3s listener, which also binds its own address)
        prefix = ['systemd-socket-activate', '-l', f'127.0.0.1:{cls.by_address}', '-l', f'127.0.0.1:{cls.by_name}',
                  '--fdname=imaps:pop3s', f'--setenv=NOTIFY_SOCKET={cls.notify.path}']
        cls.tf.start(wait_ready=False, prefix=prefix)
        cls.addClassCleanup(cls.tf.kill)
        # systemd-socket-activate runs tlsfront at the first connection, which then waits in the backlog
        assert harness.wait_until(lambda: harness.port_in_listen_state(cls.by_address), 10)
        first = tlsclient.tls_connect(cls.by_address)
        try:
            cls.first_echo = tlsclient.echo_roundtrip(first, b'first\r\n')
        finally:
            first.close()
        cls.tf.wait_for('ready', timeout=15 * harness.time_scale())

    def roundtrip(self, port):
        """(the echo, the close line's listener)"""
        mark = self.tf.mark()
        s = tlsclient.tls_connect(port)
        client_port = s.getsockname()[1]
        try:
            echo = tlsclient.echo_roundtrip(s, b'ping\r\n')
        finally:
            s.close()
        return echo, self.tf.close_record(client_port, since=mark)['listener']

    def test_1_sockets_matched_by_address_and_name(self):
        self.assertEqual(self.first_echo, b'first\r\n', 'the connection that started tlsfront was not served')
        listening = {r['address']: r for r in self.tf.events('listening')}
        self.assertEqual(listening[f'127.0.0.1:{self.by_address}'].get('from'), 'systemd')
        self.assertEqual(listening[f'127.0.0.1:{self.by_address}']['listener'], 'imaps')
        self.assertEqual(listening[f'127.0.0.1:{self.by_name}'].get('fd_name'), 'pop3s')
        self.assertEqual(listening[f'127.0.0.1:{self.by_name}']['listener'], 'pop3s')
        self.assertNotIn('from', listening[f'127.0.0.1:{self.own}'])
        for port, listener in ((self.by_address, 'imaps'), (self.by_name, 'pop3s'), (self.own, 'pop3s')):
            with self.subTest(port=port):
                self.assertEqual(self.roundtrip(port), (b'ping\r\n', listener))

    def test_2_ready_status_and_reload_notifications(self):
        self.notify.wait_for('READY=1')
        status = self.notify.wait_for('STATUS=')
        self.assertRegex(status, r'^STATUS=\d+ connections, config generation 1$')
        mark = self.tf.mark()
        self.tf.signal(signal.SIGHUP)
        reloading = self.notify.wait_for('RELOADING=1')
        self.assertRegex(reloading, r'^RELOADING=1\nMONOTONIC_USEC=\d+$')
        self.notify.wait_for('READY=1')
        self.tf.wait_for('reload', since=mark)
        self.assertRegex(self.notify.wait_for('STATUS='), r'config generation 2$')
        # the inherited sockets survive the reload
        for port in (self.by_address, self.by_name, self.own):
            self.assertEqual(self.roundtrip(port)[0], b'ping\r\n')

    def test_3_stopping_on_sigterm(self):
        self.tf.signal(signal.SIGTERM)
        self.notify.wait_for('STOPPING=1')
        self.assertEqual(self.tf.wait_exit(10 * harness.time_scale()), 0, self.tf.tail())


if __name__ == '__main__':
    unittest.main()
