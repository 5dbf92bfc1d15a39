"""Real mail servers and real mail clients through tlsfront: Dovecot IMAP/POP3 (plain listeners,
no PROXY) behind IMAPS/POP3S listeners; curl, Python imaplib/poplib, gnutls-cli (a second TLS
stack), openssl s_client; swaks and smtplib against an SMTPS listener in front of a small SMTP
backend."""
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import imaplib
import poplib
import time
import unittest

import backends
import certs
import dovecot
import harness
from harness import run

NAME = 'mail.example.test'


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
                        'backend': f'127.0.0.1:{cls.dovecot.imap_port}'},
                       {'name': 'pop3s', 'listen': f'127.0.0.1:{cls.pop3s}', 'protocol': 'pop3',
                        'backend': f'127.0.0.1:{cls.dovecot.pop3_port}'},
                       {'name': 'smtps', 'listen': f'127.0.0.1:{cls.smtps}', 'protocol': 'smtp',
                        'backend': cls.smtp.address}])
        cls.tf = harness.TlsFront(cfg, 'mail')
        try:
            cls.tf.start()
        except Exception:
            cls.dovecot.stop()
            cls.smtp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        problem = cls.tf.stop_and_check()
        cls.dovecot.stop()
        cls.smtp.close()
        if problem:
            raise AssertionError(problem)

    def curl(self, port, url_path, scheme, extra=()):
        cmd = ['curl', '-sS', '--max-time', str(int(15 * harness.time_scale())), '--cacert', self.pki.ca_cert,
               '--resolve', f'{NAME}:{port}:127.0.0.1', '--user', f'{dovecot.USER}:{dovecot.PASSWORD}',
               *extra, f'{scheme}://{NAME}:{port}{url_path}']
        r = run(cmd, timeout=20 * harness.time_scale())
        return r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')

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
        cmd_rc, out, err = self.curl(self.imaps, '/', 'imaps', extra=['--user', 'testuser:wrong'])
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
        cmd = ['curl', '-sS', '--max-time', '10', '--cacert', self.pki.ca_cert,
               '--resolve', f'wrong.example:{self.imaps}:127.0.0.1', '--user', 'testuser:testpass',
               f'imaps://wrong.example:{self.imaps}/']
        r = run(cmd, timeout=20)
        self.assertEqual(r.returncode, 60, r.stderr)  # peer certificate cannot be authenticated

    # -- Python imaplib / poplib ---------------------------------------------------------------------------
    def test_imaplib(self):
        ctx = self.ctx()
        port = self.imaps

        class IMAP4_SSL_At(imaplib.IMAP4_SSL):  # host= is the SNI / verified name; connect to 127.0.0.1
            def _create_socket(self, timeout):
                return self.ssl_context.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout),
                                                    server_hostname=self.host)
        m = IMAP4_SSL_At(NAME, port, ssl_context=ctx, timeout=10)
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
            try:
                m.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def test_poplib(self):
        ctx = self.ctx()
        port = self.pop3s

        class POP3_SSL_At(poplib.POP3_SSL):
            def _create_socket(self, timeout):
                return self.context.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout),
                                                server_hostname=self.host)
        p = POP3_SSL_At(NAME, port, context=ctx, timeout=10)
        try:
            self.assertTrue(p.getwelcome().startswith(b'+OK'))
            p.user(dovecot.USER)
            p.pass_(dovecot.PASSWORD)
            count, size = p.stat()
            self.assertGreaterEqual(count, 1)
            resp, lines, octets = p.retr(1)
            self.assertIn(f'Subject: {dovecot.FIRST_SUBJECT}'.encode(), lines)
        finally:
            try:
                p.quit()
            except (poplib.error_proto, OSError):
                pass

    # -- other TLS stacks ------------------------------------------------------------------------------------
    def interactive(self, cmd, lines, done_marker, timeout=15):
        """Run a line-oriented TLS client, feed it lines, and keep stdin open until done_marker shows
        up in its output (some clients quit on stdin EOF before the reply has arrived)."""
        proc = harness.register_process(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                         stderr=subprocess.PIPE))
        out = bytearray()

        def reader():
            for chunk in iter(lambda: proc.stdout.read1(4096), b''):
                out.extend(chunk)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        deadline = time.monotonic() + timeout * harness.time_scale()
        try:
            for line in lines:
                proc.stdin.write(line)
                proc.stdin.flush()
                time.sleep(0.05)
            while done_marker not in out and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            t.join(timeout=5)
        err = proc.stderr.read().decode(errors='replace')
        return bytes(out), err

    def test_gnutls_cli_imaps_login(self):
        if not shutil.which('gnutls-cli'):
            self.skipTest('gnutls-cli not installed (package gnutls-bin)')
        out, err = self.interactive(
            ['gnutls-cli', '--x509cafile', self.pki.ca_cert, '--sni-hostname', NAME, '--verify-hostname', NAME,
             '--crlf', '-p', str(self.imaps), '127.0.0.1'],
            [b'a LOGIN testuser testpass\n', b'b SELECT INBOX\n', b'c LOGOUT\n'], b'c OK')
        self.assertIn(b'* OK', out, err)
        self.assertIn(b'a OK', out, err)
        self.assertRegex(out, rb'\* \d+ EXISTS')
        self.assertIn(b'c OK', out, err)

    def test_gnutls_cli_pop3s_tls12(self):
        if not shutil.which('gnutls-cli'):
            self.skipTest('gnutls-cli not installed (package gnutls-bin)')
        out, err = self.interactive(
            ['gnutls-cli', '--x509cafile', self.pki.ca_cert, '--sni-hostname', NAME, '--verify-hostname', NAME,
             '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2', '--crlf', '-p', str(self.pop3s), '127.0.0.1'],
            [b'USER testuser\n', b'PASS testpass\n', b'STAT\n', b'QUIT\n'], b'Logging out')
        self.assertIn(b'+OK Logged in', out, err)
        self.assertRegex(out, rb'\+OK \d+ \d+')
        self.assertIn(b'Logging out', out, err)

    def test_openssl_s_client_imaps_login(self):
        r = run(['openssl', 's_client', '-connect', f'127.0.0.1:{self.imaps}', '-servername', NAME,
                 '-CAfile', self.pki.ca_cert, '-verify_return_error', '-verify_hostname', NAME, '-quiet'],
                input=b'a LOGIN testuser testpass\r\nb LOGOUT\r\n', timeout=15 * harness.time_scale())
        out = r.stdout.decode(errors='replace')
        self.assertRegex(out, r'(?m)^a OK', r.stderr.decode(errors='replace'))

    # -- SMTP -------------------------------------------------------------------------------------------------
    def test_swaks_smtps(self):
        if not shutil.which('swaks'):
            self.skipTest('swaks not installed')
        before = len(self.smtp.messages)
        r = run(['swaks', '--server', '127.0.0.1', '--port', str(self.smtps), '--tlsc', '--tls-sni', NAME,
                 '--tls-verify', '--tls-ca-path', self.pki.ca_cert, '--ehlo', 'swaks.example',
                 '--from', 'a@example.test', '--to', 'b@example.test', '--header', 'Subject: via swaks',
                 '--timeout', '15'], timeout=30 * harness.time_scale())
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors='replace')[-2000:] + r.stderr.decode(errors='replace'))
        self.assertEqual(len(self.smtp.messages), before + 1)
        self.assertIn(b'Subject: via swaks', self.smtp.messages[-1])

    def test_smtplib_smtps(self):
        ctx = self.ctx()
        port = self.smtps

        class SMTP_SSL_At(smtplib.SMTP_SSL):
            def _get_socket(self, host, p, timeout):
                return self.context.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout),
                                                server_hostname=self._host)
        before = len(self.smtp.messages)
        s = SMTP_SSL_At(NAME, port, context=ctx, timeout=10, local_hostname='py.example')
        try:
            s.sendmail('a@example.test', ['b@example.test'], 'Subject: via smtplib\r\n\r\nhi\r\n')
        finally:
            s.quit()
        self.assertEqual(len(self.smtp.messages), before + 1)
        self.assertIn(b'via smtplib', self.smtp.messages[-1])


if __name__ == '__main__':
    unittest.main()
