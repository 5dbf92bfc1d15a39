"""Session tickets: `ticket_key_file` shared by two processes (a fleet), rotation by prepending a
key and reloading, a dropped key no longer resumes; without a file, in-memory keys survive a reload
but are not shared with another process; one TLS 1.3 ticket per handshake, full or resumed, sent
with the backend's first bytes.
Clients are Python's ssl and openssl s_client (OpenSSL)."""
import base64
import os
import re
import select
import socket
import ssl
import subprocess
import time
import unittest

import backends
import certs
import harness
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
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        harness.register_process(p)
        out = b''
        try:
            p.stdin.write(b'ticket-probe\r\n')
            p.stdin.flush()
            deadline = time.monotonic() + 10 * harness.time_scale()
            while b'\nticket-probe' not in out and time.monotonic() < deadline:
                if select.select([p.stdout], [], [], 0.2)[0]:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
        finally:
            p.stdin.close()
            p.wait(timeout=10)
            p.stdout.close()
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
        # Python's ssl over a raw socket (MemoryBIO), to see what reaches the client and when.
        ctx = tlsclient.client_context(min_version=ssl.TLSVersion.TLSv1_3, max_version=ssl.TLSVersion.TLSv1_3)
        raw = socket.create_connection(('127.0.0.1', self.ports[2]), timeout=10)
        self.addCleanup(raw.close)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname='test.example')
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                self.assertTrue(data, 'the proxy closed during the handshake')
                incoming.write(data)
        raw.sendall(outgoing.read())  # the client's Finished
        # The echo backend says nothing until spoken to, so neither does the proxy: no ticket yet.
        self.assertEqual(select.select([raw], [], [], 1.0)[0], [], 'bytes came before the backend spoke')
        tls.write(b'first words\r\n')
        raw.sendall(outgoing.read())
        first = raw.recv(65536)
        records, at = 0, 0
        while at + 5 <= len(first):
            records += 1
            at += 5 + int.from_bytes(first[at + 3:at + 5], 'big')
        self.assertGreaterEqual(records, 2, 'the ticket and the echo came in separate sends')
        incoming.write(first)
        echoed = b''
        while b'\n' not in echoed:
            try:
                echoed += tls.read(65536)
            except ssl.SSLWantReadError:
                data = raw.recv(65536)
                self.assertTrue(data, 'the proxy closed before the echo')
                incoming.write(data)
        self.assertEqual(echoed, b'first words\r\n')
        self.assertTrue(tls.session.has_ticket, 'no ticket arrived with the echo')

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


if __name__ == '__main__':
    unittest.main()
