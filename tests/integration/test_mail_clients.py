"""Real mail servers and real mail clients through tlsfront: Dovecot IMAP/POP3 (its plain
listeners: a legacy backend without PROXY support, proxy_protocol = "off") behind IMAPS/POP3S
listeners; curl, Python imaplib/poplib, gnutls-cli (a second TLS stack), openssl s_client; swaks and
smtplib against an SMTPS listener in front of a small SMTP backend. PROXY headers to Dovecot and
Postfix: test_proxy_protocol.py and test_postfix.py."""
import shutil
import signal
import ssl
import time
import unittest

import backends
import certs
import dovecot
import harness
import mailclients
from mailclients import NAME


class MailClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = dovecot.available()
        if why:
            raise unittest.SkipTest(why)
        p = cls.pki = certs.get_pki()
        cls.dovecot = dovecot.Dovecot().start()
        cls.smtp = backends.SmtpBackend()
        cls.imaps = harness.free_port()
        cls.pop3s = harness.free_port()
        cls.smtps = harness.free_port()
        cfg = harness.make_config(
            tls={'cert': p.mail.cert, 'key': p.mail.key},
            listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.imaps}', 'protocol': 'imap',
                        'backend': f'127.0.0.1:{cls.dovecot.imap_port}', 'proxy_protocol': 'off'},
                       {'name': 'pop3s', 'listen': f'127.0.0.1:{cls.pop3s}', 'protocol': 'pop3',
                        'backend': f'127.0.0.1:{cls.dovecot.pop3_port}', 'proxy_protocol': 'off'},
                       {'name': 'smtps', 'listen': f'127.0.0.1:{cls.smtps}', 'protocol': 'smtp',
                        'backend': cls.smtp.address}])
        def close_backends():
            cls.dovecot.stop()
            cls.smtp.close()
        cls.addClassCleanup(close_backends)
        cls.tf = harness.start_tlsfront(cls, cfg, 'mail')

    def curl(self, port, url_path, scheme, extra=()):
        return mailclients.curl(self.pki.ca_cert, port, scheme, url_path, extra=extra)

    def ctx(self):
        return ssl.create_default_context(cafile=self.pki.ca_cert)  # verifies chain and host name

    # -- curl ------------------------------------------------------------------------------------------
    def test_curl_imaps_list(self):
        mark = self.tf.mark()
        rc, out, err = self.curl(self.imaps, '/', 'imaps')
        self.assertEqual(rc, 0, err)
        self.assertIn('INBOX', out)
        rec = self.tf.wait_for('close', since=mark, timeout=10, listener='imaps')
        self.assertEqual(rec.get('sni'), NAME, rec)
        self.assertEqual(rec.get('tls'), 'TLSv1.3', rec)
        self.assertEqual(rec.get('reason'), 'done', rec)
        self.assertGreater(int(rec.get('bytes_in', '0')), 10, rec)
        self.assertGreater(int(rec.get('bytes_out', '0')), 10, rec)

    def test_curl_imaps_fetch_first_message(self):
        rc, out, err = self.curl(self.imaps, '/INBOX;UID=1', 'imaps')
        self.assertEqual(rc, 0, err)
        self.assertIn(f'Subject: {dovecot.FIRST_SUBJECT}', out)

    def test_curl_imaps_wrong_password(self):
        cmd_rc, out, err = mailclients.curl(self.pki.ca_cert, self.imaps, 'imaps', '/', user=('testuser', 'wrong'))
        self.assertEqual(cmd_rc, 67, f'expected curl exit 67 (login denied): {err}')

    def test_curl_imaps_tls12(self):
        rc, out, err = self.curl(self.imaps, '/', 'imaps', extra=['--tlsv1.2', '--tls-max', '1.2'])
        self.assertEqual(rc, 0, err)
        self.assertIn('INBOX', out)

    def test_curl_pop3s_list_and_retr(self):
        rc, out, err = self.curl(self.pop3s, '/', 'pop3s')
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r'(?m)^1 \d+')
        rc, out, err = self.curl(self.pop3s, '/1', 'pop3s')
        self.assertEqual(rc, 0, err)
        self.assertIn(f'Subject: {dovecot.FIRST_SUBJECT}', out)

    def test_curl_rejects_wrong_name(self):
        """The certificate is checked against the name: a client asking for another name fails."""
        rc, out, err = mailclients.curl(self.pki.ca_cert, self.imaps, 'imaps', '/', name='wrong.example')
        self.assertEqual(rc, 60, err)  # peer certificate cannot be authenticated

    # -- Python imaplib / poplib ---------------------------------------------------------------------------
    def test_imaplib(self):
        m = mailclients.imap4_ssl(self.imaps, self.ctx())
        try:
            self.assertEqual(m.login(dovecot.USER, dovecot.PASSWORD)[0], 'OK')
            typ, data = m.select('INBOX', readonly=True)
            self.assertEqual(typ, 'OK')
            self.assertGreaterEqual(int(data[0]), 1)
            typ, data = m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
            self.assertEqual(typ, 'OK')
            self.assertIn(dovecot.FIRST_SUBJECT.encode(), data[0][1])
            # APPEND a message and find it again
            msg = b'From: a@example.test\r\nSubject: appended via tlsfront\r\n\r\nbody\r\n'
            self.assertEqual(m.append('INBOX', None, None, msg)[0], 'OK')
            m.select('INBOX')
            typ, data = m.search(None, 'SUBJECT', '"appended via tlsfront"')
            self.assertEqual(typ, 'OK')
            self.assertTrue(data[0].split(), 'appended message not found')
        finally:
            mailclients.quietly(m.logout)

    def test_poplib(self):
        p = mailclients.pop3_ssl(self.pop3s, self.ctx())
        try:
            self.assertTrue(p.getwelcome().startswith(b'+OK'))
            p.user(dovecot.USER)
            p.pass_(dovecot.PASSWORD)
            count, size = p.stat()
            self.assertGreaterEqual(count, 1)
            resp, lines, octets = p.retr(1)
            self.assertIn(f'Subject: {dovecot.FIRST_SUBJECT}'.encode(), lines)
        finally:
            mailclients.quietly(p.quit)

    # -- other TLS stacks ------------------------------------------------------------------------------------
    def interactive(self, cmd, lines, done_marker, timeout=15):
        return mailclients.interactive(cmd, lines, done_marker, timeout)

    def test_gnutls_cli_imaps_login(self):
        if not shutil.which('gnutls-cli'):
            self.skipTest('gnutls-cli not installed (package gnutls-bin)')
        out, err = self.interactive(
            ['gnutls-cli', '--x509cafile', self.pki.ca_cert, '--sni-hostname', NAME, '--verify-hostname', NAME,
             '-p', str(self.imaps), '127.0.0.1'],
            [b'a LOGIN testuser testpass\r\n', b'b SELECT INBOX\r\n', b'c LOGOUT\r\n'], b'c OK')
        self.assertIn(b'* OK', out, err)
        self.assertIn(b'a OK', out, err)
        self.assertRegex(out, rb'\* \d+ EXISTS')
        self.assertIn(b'c OK', out, err)

    def test_gnutls_cli_pop3s_tls12(self):
        if not shutil.which('gnutls-cli'):
            self.skipTest('gnutls-cli not installed (package gnutls-bin)')
        out, err = self.interactive(
            ['gnutls-cli', '--x509cafile', self.pki.ca_cert, '--sni-hostname', NAME, '--verify-hostname', NAME,
             '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2', '-p', str(self.pop3s), '127.0.0.1'],
            [b'USER testuser\r\n', b'PASS testpass\r\n', b'STAT\r\n', b'QUIT\r\n'], b'Logging out')
        self.assertIn(b'+OK Logged in', out, err)
        self.assertRegex(out, rb'\+OK \d+ \d+')
        self.assertIn(b'Logging out', out, err)

    def test_openssl_s_client_imaps_login(self):
        rc, out, err = mailclients.s_client_script(self.imaps, self.pki.ca_cert,
                                                   b'a LOGIN testuser testpass\r\nb LOGOUT\r\n')
        self.assertRegex(out, r'(?m)^a OK', err)

    def test_openssl_s_client_pop3s_login(self):
        mark = self.dovecot.log_mark()
        rc, out, err = mailclients.s_client_script(self.pop3s, self.pki.ca_cert,
                                                   b'USER testuser\r\nPASS testpass\r\nSTAT\r\nQUIT\r\n')
        self.assertIn('+OK Logged in', out, err)
        self.assertRegex(out, r'(?m)^\+OK \d+ \d+')
        # a legacy backend: no PROXY header, so Dovecot sees tlsfront's own address and no local_name
        login = self.dovecot.wait_log(r'pop3-login: Info: Login: user=<testuser>.*$', mark).group(0)
        self.assertIn('rip=127.0.0.1,', login)
        self.assertNotIn('local_name=', login)

    # -- SMTP -------------------------------------------------------------------------------------------------
    def test_swaks_smtps(self):
        if not shutil.which('swaks'):
            self.skipTest('swaks not installed')
        before = len(self.smtp.messages)
        r = mailclients.swaks(self.smtps, self.pki.ca_cert,
                              extra=['--ehlo', 'swaks.example', '--from', 'a@example.test', '--to', 'b@example.test',
                                     '--header', 'Subject: via swaks'])
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors='replace')[-2000:] + r.stderr.decode(errors='replace'))
        self.assertEqual(len(self.smtp.messages), before + 1)
        self.assertIn(b'Subject: via swaks', self.smtp.messages[-1])

    def test_smtplib_smtps(self):
        before = len(self.smtp.messages)
        s = mailclients.smtp_ssl(self.smtps, self.ctx())
        try:
            s.sendmail('a@example.test', ['b@example.test'], 'Subject: via smtplib\r\n\r\nhi\r\n')
        finally:
            s.quit()
        self.assertEqual(len(self.smtp.messages), before + 1)
        self.assertIn(b'via smtplib', self.smtp.messages[-1])


    # -- drain -----------------------------------------------------------------------------------------
    def test_imap_idle_session_gets_bye_on_sigterm(self):
        """An IMAP client in IDLE (imaplib against the real Dovecot) is told `* BYE` as soon as a
        second tlsfront in front of the same Dovecot starts draining, not at shutdown_grace."""
        port = harness.free_port()
        cfg = harness.make_config(
            tls={'cert': self.pki.mail.cert, 'key': self.pki.mail.key}, server={'shutdown_grace': '20s'},
            listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{port}', 'protocol': 'imap',
                        'backend': f'127.0.0.1:{self.dovecot.imap_port}'}])
        tf = harness.TlsFront(cfg, 'drain-idle').start()
        self.addCleanup(tf.kill)
        imap = mailclients.imap4_ssl(port, self.ctx())
        try:
            imap.login(dovecot.USER, dovecot.PASSWORD)
            imap.select('INBOX')
            tag = imap._new_tag().decode()
            imap.send(f'{tag} IDLE\r\n'.encode())
            self.assertTrue(imap.readline().startswith(b'+ '), 'no IDLE continuation')
            t0 = time.monotonic()
            tf.signal(signal.SIGTERM)
            line = imap.readline()
            self.assertTrue(line.startswith(b'* BYE [UNAVAILABLE] Server shutting down'), line)
            self.assertEqual(imap.readline(), b'', 'the session was not closed after BYE')
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            imap.shutdown()
        self.assertEqual(tf.wait_exit(10 * harness.time_scale()), 0, tf.tail())
        self.assertEqual(tf.events('close')[-1]['reason'], 'drained', tf.tail())

if __name__ == '__main__':
    unittest.main()
