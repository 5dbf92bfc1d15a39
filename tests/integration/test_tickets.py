"""Session tickets: `ticket_key_file` shared by two processes (a fleet), rotation by prepending a
key and reloading, a dropped key no longer resumes; without a file, in-memory keys survive a reload
but are not shared with another process; one TLS 1.3 ticket per handshake, full or resumed, sent
with the backend's first bytes (kept outside the send blocks while a silent backend makes it wait).
Clients are Python's ssl and openssl s_client (OpenSSL)."""
import base64
import os
import re
import select
import socket
import ssl
import unittest

import backends
import certs
import harness
import hostile
import mailclients
import tlsclient


def new_key_line(size=80):
    return base64.b64encode(os.urandom(size)).decode() + '\n'


class TicketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.echo = backends.EchoBackend()
        cls.addClassCleanup(cls.echo.close)
        cls.key_file = os.path.join(harness.new_dir('tickets'), 'ticket.keys')
        cls.first_key, cls.second_key = new_key_line(80), new_key_line(48)
        with open(cls.key_file, 'w') as f:
            f.write('# fleet ticket keys\n' + cls.first_key + cls.second_key)
        os.chmod(cls.key_file, 0o600)
        cls.ports = [harness.free_port(), harness.free_port(), harness.free_port()]
        cls.fleet = [harness.start_tlsfront(cls, cls.config(port, cls.key_file), f'fleet{i}')
                     for i, port in enumerate(cls.ports[:2])]
        cls.alone = harness.start_tlsfront(cls, cls.config(cls.ports[2], None), 'in-memory')

    @classmethod
    def config(cls, port, key_file):
        tls = {'cert': cls.pki.global_.cert, 'key': cls.pki.global_.key}
        if key_file:
            tls['ticket_key_file'] = key_file
        # the same listener name everywhere: it is the session id context tickets are bound to
        return harness.make_config(tls=tls, listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{port}',
                                                        'protocol': 'imap', 'backend': cls.echo.address}])

    def session_from(self, port, version):
        ctx = tlsclient.client_context(min_version=version, max_version=version)
        s = tlsclient.tls_connect(port, ctx=ctx)
        try:
            # TLS 1.3 tickets come after the handshake: one round trip receives them
            self.assertEqual(tlsclient.echo_roundtrip(s, b'hello\r\n'), b'hello\r\n')
            self.assertFalse(s.session_reused)
            return ctx, s.session
        finally:
            s.close()

    def resumes(self, port, ctx, session):
        s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=10),
                            server_hostname='test.example', session=session)
        try:
            self.assertEqual(tlsclient.echo_roundtrip(s, b'again\r\n'), b'again\r\n')
            return s.session_reused
        finally:
            s.close()

    def s_client_session(self, port, session_in, session_out):
        """openssl s_client -msg over TLS 1.3: one line echoed, so every ticket the proxy sent
        (before any relayed byte) has been read. Returns (NewSessionTicket count, resumed)."""
        cmd = ['openssl', 's_client', '-connect', f'127.0.0.1:{port}', '-noservername', '-tls1_3', '-msg',
               '-sess_out', session_out] + (['-sess_in', session_in] if session_in else [])
        out, _ = mailclients.interactive(cmd, [b'ticket-probe\r\n'], b'\nticket-probe', timeout=10)
        text = out.decode(errors='replace')
        self.assertIn('\nticket-probe', text, 'no echo through the proxy:\n' + text[-3000:])
        return len(re.findall(r'^<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], NewSessionTicket', text, re.M)), \
            bool(re.search(r'^Reused, TLSv1\.3', text, re.M))

    def test_one_tls13_ticket_per_handshake_and_a_fresh_one_on_resumption(self):
        # Postfix's choice (BoringSSL sends two by default): a mail client's next connection resumes
        # with the one ticket and gets a new one in that handshake, for the connection after it.
        d = harness.new_dir('one-ticket')
        full, first, second = (os.path.join(d, name) for name in ('full.pem', 'first.pem', 'second.pem'))
        self.assertEqual(self.s_client_session(self.ports[2], None, full), (1, False))
        self.assertEqual(self.s_client_session(self.ports[2], full, first), (1, True))
        self.assertEqual(self.s_client_session(self.ports[2], first, second), (1, True))

    def test_tls13_ticket_goes_out_with_the_backends_first_bytes(self):
        client = tls13_bio_client(self, self.ports[2])
        # The echo backend says nothing until spoken to, so neither does the proxy: no ticket yet.
        self.assertFalse(readable(client, 1.0), 'bytes came before the backend spoke')
        client.write(b'first words\r\n')
        first = client.sock.recv(65536)
        self.assertGreaterEqual(len(records_in(first)), 2, 'the ticket and the echo came in separate sends')
        client.incoming.write(first)
        self.assertEqual(client.read_until_close(want=13), (b'first words\r\n', 'enough'))
        self.assertTrue(client.obj.session.has_ticket, 'no ticket arrived with the echo')

    def reload_all(self, processes):
        for tf in processes:
            tf.reload()

    def write_keys(self, *lines):
        with open(self.key_file, 'w') as f:
            f.write(''.join(lines))

    def test_fleet_resumes_each_others_sessions_and_rotates(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version.name):
                self.write_keys(self.first_key, self.second_key)
                self.reload_all(self.fleet)
                ctx, session = self.session_from(self.ports[0], version)
                self.assertTrue(self.resumes(self.ports[1], ctx, session), 'no resumption on the other process')
                # rotation: a new first key; the old ticket still resumes everywhere
                self.write_keys(new_key_line(), self.first_key, self.second_key)
                self.reload_all(self.fleet)
                self.assertTrue(self.resumes(self.ports[1], ctx, session), 'old ticket refused after prepending a key')
                self.assertTrue(self.resumes(self.ports[0], ctx, session))
                # the key that made the ticket is dropped: a full handshake, still served
                self.write_keys(new_key_line(), self.second_key)
                self.reload_all(self.fleet)
                self.assertFalse(self.resumes(self.ports[1], ctx, session), 'ticket resumed after its key was dropped')

    def test_in_memory_keys_survive_a_reload_but_are_not_shared(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version.name):
                ctx, session = self.session_from(self.ports[2], version)
                self.reload_all([self.alone])
                self.assertTrue(self.resumes(self.ports[2], ctx, session), 'ticket refused after a reload')
                self.assertFalse(self.resumes(self.ports[0], ctx, session),
                                 'an in-memory ticket resumed on another process')

    def test_bad_key_file_fails_the_reload_with_its_line(self):
        tf = self.fleet[0]
        self.write_keys(self.first_key, 'bm90IGEga2V5\n')
        rec = tf.reload(event='reload_failed')
        self.assertRegex(rec['error'], r":\d+:\d+: ticket key file '" + self.key_file +
                         r"': line 2: key decodes to 9 bytes, want 48 or 80$")
        self.write_keys(self.first_key, self.second_key)
        self.reload_all([tf])


def records_in(data):
    """The TLS record lengths in `data`, a run of whole records."""
    lengths, at = [], 0
    while at + 5 <= len(data):
        lengths.append(int.from_bytes(data[at + 3:at + 5], 'big'))
        at += 5 + lengths[-1]
    return lengths


def tls13_bio_client(test, port):
    """tlsclient.BioTls over TLS 1.3, handshake done: the test sees what reaches the client and when."""
    ctx = tlsclient.client_context(min_version=ssl.TLSVersion.TLSv1_3, max_version=ssl.TLSVersion.TLSv1_3)
    client = tlsclient.BioTls(port, servername='test.example', ctx=ctx)
    test.addCleanup(client.close)
    client.handshake()
    return client


def readable(client, seconds):
    return bool(select.select([client.sock], [], [], seconds)[0])


class TicketWaitingForSilentBackendTest(unittest.TestCase):
    """A TLS 1.3 ticket that waits for a backend's first bytes holds no send block (the session is
    counted idle), and still reaches the client, with close_notify, when the session ends first."""

    @classmethod
    def setUpClass(cls):
        pki = certs.get_pki()
        cls.silent = backends.SilentBackend()
        cls.addClassCleanup(cls.silent.close)
        cls.port, cls.admin = harness.free_port(), harness.free_port()
        cfg = harness.make_config(tls={'cert': pki.global_.cert, 'key': pki.global_.key},
                                  server={'admin': f'127.0.0.1:{cls.admin}'},
                                  listeners=[{'name': 'waiting', 'listen': f'127.0.0.1:{cls.port}',
                                              'protocol': 'imap', 'backend': cls.silent.address}])
        cls.tf = harness.start_tlsfront(cls, cfg, 'ticket-wait')
        cls.tf.wait_for('admin', address=f'127.0.0.1:{cls.admin}')

    def idle_sessions(self):
        return hostile.metric(hostile.metrics(self.admin), 'tlsfront_connections_idle', listener='waiting')

    def test_ticket_waits_outside_the_send_blocks_and_goes_with_close_notify(self):
        before = self.silent.count()
        clients = [tls13_bio_client(self, self.port) for _ in range(3)]
        self.silent.wait_conn(before + 2)
        self.assertTrue(harness.wait_until(lambda: self.idle_sessions() == 3, 5 * harness.time_scale()),
                        f'idle sessions: {self.idle_sessions()} of 3 waiting for the backend')
        self.assertFalse(readable(clients[0], 0.5), 'bytes came before the backend spoke')
        # close_notify from the client: the backend sees EOF and hangs up, the proxy answers with the
        # ticket that waited, then its close_notify
        client = clients[0]
        client.send_close_notify()
        self.assertEqual(client.read_until_close(), (b'', 'close_notify'))
        self.assertTrue(client.obj.session.has_ticket, 'the waiting ticket was lost at the close')


if __name__ == '__main__':
    unittest.main()
