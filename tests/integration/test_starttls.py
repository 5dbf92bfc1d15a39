"""STARTTLS listeners (README "STARTTLS") in front of a real Dovecot: IMAP (143-style) and POP3
(110-style), both to Dovecot's `haproxy = yes` listeners with the default v2 TLVs (so Dovecot logs
the client's address, the SNI as local_name and "secured") and to its plain listeners (a legacy
backend, no PROXY). Clients: openssl s_client -starttls, gnutls-cli --starttls-proto, curl
imap:// and pop3:// --ssl-reqd, Python imaplib starttls() and poplib stls().

Injection safety (CVE-2011-0411): a recording backend shows that commands sent after the
STARTTLS/STLS line in the same segment never reach it and are counted (starttls_discarded=N);
nothing sent before TLS reaches the backend at all. The limits before TLS (line length, command
count, handshake_timeout over the whole phase) and a backend that greets with an error.
SMTP with Postfix: test_starttls_smtp.py."""
import imaplib
import shutil
import socket
import ssl
import time
import unittest

import backends
import certs
import dovecot
import harness
import mailclients
import tlsclient
from mailclients import NAME


class PlainClient:
    """A client's plaintext side of a STARTTLS session, upgraded in place with starttls()."""

    def __init__(self, port, source=None, timeout=10.0):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b''

    def read_until(self, marker, timeout=10.0):
        """Everything up to and including marker; b'' plus what came if it never does."""
        deadline = time.monotonic() + timeout * harness.time_scale()
        while marker not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, OSError):
                break
            if not d:
                break
            self.buf += d
        if marker not in self.buf:
            return b''
        end = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def command(self, line, reply_end=b'\r\n'):
        self.sock.sendall(line)
        return self.read_until(reply_end)

    def closed_after(self, timeout=10.0):
        """What the server sent before it closed ('eof'/'reset'), or 'timeout'."""
        _, how, _ = tlsclient.raw_until_closed(self.sock, timeout * harness.time_scale())
        return how

    def starttls(self, ctx, name=NAME):
        self.assert_nothing_pending()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=name, suppress_ragged_eofs=False)
        return self.sock

    def assert_nothing_pending(self):
        if self.buf:
            raise AssertionError(f'server sent more than one reply before TLS: {self.buf!r}')

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def ctx_for(pki):
    return ssl.create_default_context(cafile=pki.ca_cert)


class StartTlsDovecotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = dovecot.available()
        if why:
            raise unittest.SkipTest(why)
        p = cls.pki = certs.get_pki()
        cls.dovecot = dovecot.Dovecot(instance='tlsfront-it-dovecot-starttls').start()
        cls.addClassCleanup(cls.dovecot.stop)
        cls.record = {'imap': backends.GreetingEchoBackend(b'* OK [CAPABILITY IMAP4rev1] backend ready\r\n'),
                      'pop3': backends.GreetingEchoBackend(b'+OK backend ready\r\n'),
                      'smtp': backends.GreetingEchoBackend(b'220-backend.example ESMTP\r\n220 ready\r\n')}
        cls.bye = backends.GreetingEchoBackend(b'* BYE [UNAVAILABLE] backend overloaded\r\n')
        for b in (*cls.record.values(), cls.bye):
            cls.addClassCleanup(b.close)
        d = cls.dovecot
        listeners = {  # name: (protocol, backend, proxy_protocol)
            'imap': ('imap', f'127.0.0.1:{d.imap_proxy_port}', 'v2'),
            'pop3': ('pop3', f'127.0.0.1:{d.pop3_proxy_port}', 'v2'),
            'imap_legacy': ('imap', f'127.0.0.1:{d.imap_port}', 'off'),
            'pop3_legacy': ('pop3', f'127.0.0.1:{d.pop3_port}', 'off'),
            'imap_record': ('imap', cls.record['imap'].address, 'off'),
            'pop3_record': ('pop3', cls.record['pop3'].address, 'off'),
            'smtp_record': ('smtp', cls.record['smtp'].address, 'off'),
            'imap_bye': ('imap', cls.bye.address, 'off'),
            'imap_inbound': ('imap', f'127.0.0.1:{d.imap_proxy_port}', 'v2'),  # behind a balancer
        }
        cls.port = {name: harness.free_port() for name in listeners}
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': p.mail.cert, 'key': p.mail.key},
            listeners=[{'name': name, 'listen': f'127.0.0.1:{cls.port[name]}', 'protocol': protocol,
                        'backend': backend, 'proxy_protocol': pp, 'starttls': 'required',
                        'greeting_name': 'front.example.test',
                        'accept_proxy_from': ['127.0.0.1/32'] if name == 'imap_inbound' else None}
                       for name, (protocol, backend, pp) in listeners.items()]), 'starttls')

    def close_record(self, listener, mark, source='127.0.0.1', port=None):
        return self.tf.wait_for('close', since=mark, listener=listener,
                                client=(f'{source}:{port}' if port else
                                        (lambda c: bool(c) and c.startswith(source + ':'))))

    def assert_secured_login(self, listener, source, mark, dmark):
        """Dovecot's login line for the session from source: the client's address and port from
        the header, the SNI as local_name (default TLVs), and secured (the SSL TLV)."""
        rec = self.close_record(listener, mark, source)
        self.assertEqual(rec.get('tls'), 'TLSv1.3', rec)
        self.assertEqual(rec.get('sni'), NAME, rec)
        self.assertEqual(rec.get('starttls_discarded'), '0', rec)
        login = self.dovecot.wait_login(listener[:4], rec['client'].rpartition(':')[2], since=dmark)
        self.assertEqual(login.get('user'), dovecot.USER, login['line'])
        self.assertEqual(login.get('rip'), source, login['line'])
        self.assertEqual(login.get('real_rip'), '127.0.0.1', login['line'])
        self.assertEqual(login.get('local_name'), NAME, login['line'])
        self.assertTrue(login['secured'], login['line'])
        return rec

    # -- real clients, Dovecot with PROXY v2 ------------------------------------------------------------------
    def test_curl_imap_ssl_reqd(self):
        mark, dmark, source = self.tf.mark(), self.dovecot.log_mark(), '127.0.0.21'
        rc, out, err = mailclients.curl(self.pki.ca_cert, self.port['imap'], 'imap', '/', interface=source,
                                        extra=['--ssl-reqd'])
        self.assertEqual(rc, 0, f'{err}\n{self.dovecot.log(dmark)}')
        self.assertIn('INBOX', out)
        rec = self.assert_secured_login('imap', source, mark, dmark)
        self.assertEqual(rec.get('reason'), 'done', rec)

    def test_curl_pop3_ssl_reqd(self):
        mark, dmark, source = self.tf.mark(), self.dovecot.log_mark(), '127.0.0.22'
        rc, out, err = mailclients.curl(self.pki.ca_cert, self.port['pop3'], 'pop3', '/1', interface=source,
                                        extra=['--ssl-reqd'])
        self.assertEqual(rc, 0, f'{err}\n{self.dovecot.log(dmark)}')
        self.assertIn(f'Subject: {dovecot.FIRST_SUBJECT}', out)
        self.assert_secured_login('pop3', source, mark, dmark)

    def test_imaplib_starttls(self):
        mark, dmark, source = self.tf.mark(), self.dovecot.log_mark(), '127.0.0.23'
        imap = mailclients.imap4(self.port['imap'], source=source)
        try:
            self.assertIn(b'front.example.test', imap.welcome)
            self.assertIn('STARTTLS', imap.capabilities)
            self.assertIn('LOGINDISABLED', imap.capabilities)
            with self.assertRaises(imaplib.IMAP4.error):  # refused in plaintext, before any backend
                imap.login(dovecot.USER, dovecot.PASSWORD)
            imap.starttls(ssl_context=ctx_for(self.pki))
            # capabilities after TLS are Dovecot's: it saw a secured session and allows LOGIN
            self.assertIn('AUTH=PLAIN', imap.capabilities)
            self.assertNotIn('LOGINDISABLED', imap.capabilities)
            self.assertNotIn('STARTTLS', imap.capabilities)
            imap.login(dovecot.USER, dovecot.PASSWORD)
            typ, data = imap.select('INBOX')
            self.assertEqual(typ, 'OK')
            typ, data = imap.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
            self.assertIn(dovecot.FIRST_SUBJECT.encode(), data[0][1])
        finally:
            mailclients.quietly(imap.logout)
        self.assert_secured_login('imap', source, mark, dmark)

    def test_poplib_stls(self):
        mark, dmark, source = self.tf.mark(), self.dovecot.log_mark(), '127.0.0.24'
        pop = mailclients.pop3(self.port['pop3'], source=source)
        try:
            self.assertEqual(pop.getwelcome(), b'+OK front.example.test ready')
            self.assertEqual(pop.capa(), {'STLS': []})  # no USER, no SASL before TLS
            pop.stls(context=ctx_for(self.pki))
            self.assertIn('USER', pop.capa())  # Dovecot's list now
            pop.user(dovecot.USER)
            pop.pass_(dovecot.PASSWORD)
            count, _ = pop.stat()
            self.assertGreaterEqual(count, 1)
            self.assertIn(dovecot.FIRST_SUBJECT.encode(), b'\n'.join(pop.retr(1)[1]))
        finally:
            mailclients.quietly(pop.quit)
        self.assert_secured_login('pop3', source, mark, dmark)

    def test_openssl_s_client_starttls_imap(self):
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        rc, out, err = mailclients.s_client_script(
            self.port['imap'], self.pki.ca_cert, b'a CAPABILITY\r\nb LOGIN testuser testpass\r\nc LOGOUT\r\n',
            extra=['-starttls', 'imap'])
        self.assertRegex(out, r'(?m)^\* CAPABILITY .*AUTH=PLAIN', err)  # Dovecot's, after TLS
        self.assertRegex(out, r'(?m)^b OK', err)
        self.assertNotIn('front.example.test', out)  # tlsfront's greeting was read by s_client itself
        self.assert_secured_login('imap', '127.0.0.1', mark, dmark)

    def test_openssl_s_client_starttls_pop3(self):
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        rc, out, err = mailclients.s_client_script(
            self.port['pop3'], self.pki.ca_cert, b'USER testuser\r\nPASS testpass\r\nSTAT\r\nQUIT\r\n',
            extra=['-starttls', 'pop3'])
        self.assertIn('+OK Logged in', out, err)
        self.assertRegex(out, r'\+OK \d+ \d+')
        self.assert_secured_login('pop3', '127.0.0.1', mark, dmark)

    def gnutls(self, listener, proto, lines, done):
        if not shutil.which('gnutls-cli'):
            self.skipTest('gnutls-cli not installed (package gnutls-bin)')
        return mailclients.interactive(
            ['gnutls-cli', '--x509cafile', self.pki.ca_cert, '--sni-hostname', NAME, '--verify-hostname', NAME,
             f'--starttls-proto={proto}', '-p', str(self.port[listener]), '127.0.0.1'], lines, done)

    def test_gnutls_cli_starttls_imap(self):
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        out, err = self.gnutls('imap', 'imap', [b'a LOGIN testuser testpass\r\n', b'b SELECT INBOX\r\n',
                                                b'c LOGOUT\r\n'], b'c OK')
        self.assertIn(b'a OK', out, err)
        self.assertRegex(out, rb'\* \d+ EXISTS')
        self.assert_secured_login('imap', '127.0.0.1', mark, dmark)

    def test_gnutls_cli_starttls_pop3(self):
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        out, err = self.gnutls('pop3', 'pop3', [b'USER testuser\r\n', b'PASS testpass\r\n', b'STAT\r\n',
                                                b'QUIT\r\n'], b'Logging out')
        self.assertIn(b'+OK Logged in', out, err)
        self.assertRegex(out, rb'\+OK \d+ \d+')
        self.assert_secured_login('pop3', '127.0.0.1', mark, dmark)

    def test_inbound_proxy_header_then_starttls(self):
        """A balancer's v1 header comes first, then the plaintext dialogue; Dovecot logs the
        address from the balancer's header."""
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        port = self.port['imap_inbound']
        c = PlainClient(port)
        try:
            c.sock.sendall(f'PROXY TCP4 198.51.100.7 127.0.0.1 40007 {port}\r\n'.encode())
            self.assertIn(b'STARTTLS', c.read_until(b'ready\r\n'))
            self.assertEqual(c.command(b'a STARTTLS\r\n'), b'a OK Begin TLS negotiation now\r\n')
            s = c.starttls(ctx_for(self.pki))
            s.sendall(b'b LOGIN testuser testpass\r\n')  # Dovecot's greeting was swallowed: its reply is first
            self.assertTrue(tlsclient.read_line(s).startswith(b'b OK'))
            s.sendall(b'c LOGOUT\r\n')
            tlsclient.read_line(s)
        finally:
            c.close()
        rec = self.tf.wait_for('close', since=mark, listener='imap_inbound', client='198.51.100.7:40007')
        login = self.dovecot.wait_login('imap', 40007, since=dmark)
        self.assertEqual(login.get('rip'), '198.51.100.7', login['line'])
        self.assertTrue(login['secured'], login['line'])
        self.assertEqual(rec.get('tls'), 'TLSv1.3', rec)

    # -- a legacy backend (no PROXY) ------------------------------------------------------------------------
    def test_legacy_backends_imaplib_and_gnutls_pop3(self):
        imap = mailclients.imap4(self.port['imap_legacy'])
        try:
            imap.starttls(ssl_context=ctx_for(self.pki))
            imap.login(dovecot.USER, dovecot.PASSWORD)
            self.assertEqual(imap.select('INBOX')[0], 'OK')
        finally:
            mailclients.quietly(imap.logout)
        out, err = self.gnutls('pop3_legacy', 'pop3', [b'USER testuser\r\n', b'PASS testpass\r\n', b'QUIT\r\n'],
                               b'Logging out')
        self.assertIn(b'+OK Logged in', out, err)

    # -- before TLS: refusals and limits, nothing reaches the backend ------------------------------------
    def test_login_before_tls_refused_and_never_forwarded(self):
        backend, mark = self.record['imap'], self.tf.mark()
        before = backend.count()
        c = PlainClient(self.port['imap_record'])
        try:
            self.assertEqual(c.read_until(b'\r\n'),
                             b'* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] front.example.test ready\r\n')
            self.assertEqual(c.command(b'a LOGIN testuser testpass\r\n'),
                             b'a NO [PRIVACYREQUIRED] Use STARTTLS first\r\n')
            self.assertEqual(c.command(b'b AUTHENTICATE PLAIN\r\n'), b'b NO [PRIVACYREQUIRED] Use STARTTLS first\r\n')
            self.assertEqual(c.command(b'c SELECT INBOX\r\n'), b'c BAD Command not permitted before STARTTLS\r\n')
            self.assertEqual(c.command(b'd CAPABILITY\r\n', b'd OK CAPABILITY completed\r\n'),
                             b'* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nd OK CAPABILITY completed\r\n')
            self.assertEqual(c.command(b'e LOGOUT\r\n', b'e OK LOGOUT completed\r\n'),
                             b'* BYE front.example.test logging out\r\ne OK LOGOUT completed\r\n')
            self.assertEqual(c.closed_after(), 'eof')
        finally:
            c.close()
        rec = self.close_record('imap_record', mark)
        self.assertEqual(rec.get('reason'), 'starttls_quit', rec)
        self.assertEqual(rec.get('tls'), '-', rec)  # no TLS yet ("none" is SMTP's plaintext session)
        self.assertEqual(backend.count(), before, 'a session that never upgraded reached the backend')

    def assert_injection_discarded(self, protocol, prelude, injected, after_tls, upgrade_reply):
        """`prelude` (ending in the STARTTLS/STLS line) and `injected` in one segment: the client
        gets the upgrade reply and nothing for `injected`; after TLS the backend receives exactly
        `after_tls` (its greeting swallowed by tlsfront), and the close line counts `injected`."""
        backend, listener, mark = self.record[protocol], f'{protocol}_record', self.tf.mark()
        index = backend.count()
        c = PlainClient(self.port[listener])
        try:
            self.assertTrue(c.read_until(b'front.example.test'))
            c.read_until(b'\r\n')
            c.sock.sendall(prelude + injected)
            reply = c.read_until(upgrade_reply)
            self.assertTrue(reply, f'no {upgrade_reply!r}; got {c.buf!r}')
            s = c.starttls(ctx_for(self.pki))
            s.sendall(after_tls)
            self.assertEqual(tlsclient.read_line(s), after_tls, 'the echo backend should echo only what came after TLS')
            conn = backend.wait_conn(index)
            self.assertEqual(bytes(conn.received), after_tls)
        finally:
            c.close()
        rec = self.close_record(listener, mark)
        self.assertEqual(rec.get('starttls_discarded'), str(len(injected)), rec)
        self.assertEqual(rec.get('tls'), 'TLSv1.3', rec)
        return reply

    def test_injection_imap(self):
        reply = self.assert_injection_discarded('imap', b'a STARTTLS\r\n', b'b LOGIN x y\r\n', b'c NOOP\r\n',
                                                b'a OK Begin TLS negotiation now\r\n')
        self.assertNotIn(b'b ', reply)

    def test_injection_pop3(self):
        self.assert_injection_discarded('pop3', b'STLS\r\n', b'USER evil\r\nPASS evil\r\n', b'CAPA\r\n',
                                        b'+OK Begin TLS negotiation\r\n')

    def test_injection_smtp(self):
        reply = self.assert_injection_discarded('smtp', b'EHLO client.example\r\nSTARTTLS\r\n',
                                                b'MAIL FROM:<evil@example.test>\r\nRCPT TO:<x@example.test>\r\n',
                                                b'EHLO after.example\r\n', b'220 2.0.0 Ready to start TLS\r\n')
        self.assertEqual(reply, b'250-front.example.test\r\n250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n')

    def test_line_too_long(self):
        for listener, reply, limit in (('imap_record', b'* BYE Line too long\r\n', 8192),
                                       ('smtp_record', b'500 5.5.0 Line too long\r\n', 1024)):
            with self.subTest(listener=listener):
                mark = self.tf.mark()
                c = PlainClient(self.port[listener])
                try:
                    c.read_until(b'ready\r\n' if listener.startswith('imap') else b'ESMTP\r\n')
                    c.sock.sendall(b'a ' + b'x' * (limit - 4) + b'\r\n')  # exactly the limit: answered
                    self.assertTrue(c.read_until(b'\r\n'))
                    c.sock.sendall(b'y' * (limit + 10))
                    self.assertEqual(c.read_until(b'\r\n'), reply)
                    self.assertEqual(c.closed_after(), 'eof')
                finally:
                    c.close()
                rec = self.close_record(listener, mark)
                self.assertEqual(rec.get('reason'), 'starttls_line_too_long', rec)

    def test_too_many_commands(self):
        mark = self.tf.mark()
        c = PlainClient(self.port['pop3_record'])
        try:
            c.read_until(b'ready\r\n')
            c.sock.sendall(b'NOOP\r\n' * 20 + b'STLS\r\n')
            for _ in range(20):
                self.assertEqual(c.read_until(b'\r\n'), b'-ERR Command not permitted before STLS\r\n')
            self.assertEqual(c.read_until(b'\r\n'), b'-ERR Too many commands before STLS\r\n')
            self.assertEqual(c.closed_after(), 'eof')
        finally:
            c.close()
        rec = self.close_record('pop3_record', mark)
        self.assertEqual(rec.get('reason'), 'starttls_too_many_commands', rec)

    def test_backend_greeting_with_bye_refused(self):
        mark = self.tf.mark()
        c = PlainClient(self.port['imap_bye'])
        try:
            c.read_until(b'ready\r\n')
            self.assertEqual(c.command(b'a STARTTLS\r\n'), b'a OK Begin TLS negotiation now\r\n')
            s = c.starttls(ctx_for(self.pki))
            self.assertEqual(tlsclient.read_line(s), b'* BYE [UNAVAILABLE] Mail service temporarily unavailable\r\n')
        finally:
            c.close()
        rec = self.close_record('imap_bye', mark)
        self.assertEqual(rec.get('reason'), 'backend_refused', rec)
        self.tf.wait_for('backend_refused', since=mark, listener='imap_bye', error='greeting is not * OK')


class StartTlsTimeoutTest(unittest.TestCase):
    """handshake_timeout covers the whole pre-TLS phase: commands do not extend it."""

    @classmethod
    def setUpClass(cls):
        p = certs.get_pki()
        cls.backend = backends.GreetingEchoBackend(b'+OK backend\r\n')
        cls.addClassCleanup(cls.backend.close)
        cls.port = harness.free_port()
        cls.timeout = 1.5 * harness.time_scale()
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            server={'handshake_timeout': f'{int(cls.timeout * 1000)}ms'},
            tls={'cert': p.mail.cert, 'key': p.mail.key},
            listeners=[{'name': 'pop3', 'listen': f'127.0.0.1:{cls.port}', 'protocol': 'pop3',
                        'backend': cls.backend.address, 'starttls': 'required'}]), 'starttls-timeout')

    def test_commands_do_not_extend_the_timeout(self):
        mark = self.tf.mark()
        c = PlainClient(self.port)
        try:
            c.read_until(b'ready\r\n')
            replies = 0
            # twice the timeout, one command every fifth of it: a per-command timer would never fire
            deadline = time.monotonic() + 2 * self.timeout
            while time.monotonic() < deadline:
                try:
                    c.sock.sendall(b'CAPA\r\n')
                except OSError:
                    break
                if not c.read_until(b'.\r\n', timeout=self.timeout):
                    break
                replies += 1
                time.sleep(self.timeout / 5)
            self.assertIn(b'-ERR Timed out waiting for STLS\r\n', c.buf)
            self.assertGreater(replies, 0)
        finally:
            c.close()
        rec = self.tf.wait_for('close', since=mark, listener='pop3')
        self.assertEqual(rec.get('reason'), 'starttls_timeout', rec)
        self.assertEqual(self.backend.count(), 0)


if __name__ == '__main__':
    unittest.main()
