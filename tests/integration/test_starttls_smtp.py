"""SMTP STARTTLS listeners (README "STARTTLS") in front of a real Postfix 3.7 (its smtpd with
`smtpd_upstream_proxy_protocol = haproxy`; PROXY v2 with the default SMTP TLVs):
- submission (587-style, starttls = "required"): swaks --tls with AUTH after TLS, Python smtplib
  starttls(), openssl s_client -starttls smtp and gnutls-cli --starttls-proto=smtp; after TLS the
  EHLO reply is Postfix's own; MAIL before TLS gets 530 and never reaches Postfix.
- MX (25-style, starttls = "optional"): swaks with and without TLS, both delivered into the Maildir
  with the client's address (from the header) in the Received line; the plaintext session is
  `tls=none` in the close line.
"""
import shutil
import ssl
import unittest
import uuid

import certs
import dovecot
import harness
import mailclients
import postfix
from test_starttls import PlainClient

USER_ADDRESS = f'{dovecot.USER}@example.test'
FRONT = 'front.example.test'  # tlsfront's greeting_name; Postfix is mx.example.test


class StartTlsPostfixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = dovecot.available() or postfix.available()
        if why:
            raise unittest.SkipTest(why)
        cls.pki = certs.get_pki()
        cls.dovecot = dovecot.Dovecot(instance='tlsfront-it-dovecot-starttls-smtp').start()
        cls.addClassCleanup(cls.dovecot.stop)
        cls.postfix = postfix.Postfix(cls.dovecot).start()
        cls.addClassCleanup(cls.postfix.stop)
        cls.port = {name: harness.free_port() for name in ('submission', 'mx')}
        smtp = f'127.0.0.1:{cls.postfix.smtp_proxy_port}'
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': cls.pki.mail.cert, 'key': cls.pki.mail.key},
            listeners=[{'name': name, 'listen': f'127.0.0.1:{cls.port[name]}', 'protocol': 'smtp',
                        'backend': smtp, 'proxy_protocol': 'v2', 'starttls': mode, 'greeting_name': FRONT}
                       for name, mode in (('submission', 'required'), ('mx', 'optional'))]), 'starttls-smtp')

    def marker(self):
        return 'tlsfront-' + uuid.uuid4().hex[:12]

    def assert_delivered(self, marker, listener, source, ehlo, mark, tls):
        rec = self.tf.wait_for('close', since=mark, listener=listener,
                               client=lambda c: bool(c) and c.startswith(source + ':'))
        self.assertEqual(rec.get('reason'), 'done', rec)
        self.assertEqual(rec.get('tls'), tls, rec)
        msg = self.postfix.wait_delivered(marker.encode())
        received = postfix.received_headers(msg)
        self.assertIn(f'from {ehlo} (unknown [{source}])', received[0])
        return msg, received[0], rec

    def swaks(self, listener, source, ehlo, marker, tls, extra=()):
        if not shutil.which('swaks'):
            self.skipTest('swaks not installed')
        r = mailclients.swaks(self.port[listener], self.pki.ca_cert, tls=tls, extra=[
            '--local-interface', source, '--ehlo', ehlo, '--from', USER_ADDRESS, '--to', USER_ADDRESS,
            '--header', f'Subject: {marker}', *extra])
        out = r.stdout.decode(errors='replace')
        self.assertEqual(r.returncode, 0, out[-3000:] + r.stderr.decode(errors='replace'))
        return out

    def test_swaks_starttls_submission_with_auth(self):
        marker, source, mark = self.marker(), '127.0.0.31', self.tf.mark()
        out = self.swaks('submission', source, 'swaks.example', marker, '--tls', extra=[
            '--auth', 'PLAIN', '--auth-user', dovecot.USER, '--auth-password', dovecot.PASSWORD])
        self.assertIn(f'220 {FRONT} ESMTP', out)
        self.assertIn('220 2.0.0 Ready to start TLS', out)
        self.assertIn('235 2.7.0 Authentication successful', out)  # AUTH offered by Postfix after TLS
        msg, received, rec = self.assert_delivered(marker, 'submission', source, 'swaks.example', mark, 'TLSv1.3')
        self.assertIn('with ESMTPA', received)
        self.assertEqual(rec.get('starttls_discarded'), '0', rec)

    def test_swaks_port_25_with_starttls(self):
        marker, source, mark = self.marker(), '127.0.0.32', self.tf.mark()
        out = self.swaks('mx', source, 'relay-tls.example', marker, '--tls')
        self.assertIn('220 2.0.0 Ready to start TLS', out)
        self.assert_delivered(marker, 'mx', source, 'relay-tls.example', mark, 'TLSv1.3')

    def test_swaks_port_25_without_tls(self):
        marker, source, mark = self.marker(), '127.0.0.33', self.tf.mark()
        out = self.swaks('mx', source, 'relay-plain.example', marker, None)
        self.assertIn('250 STARTTLS', out)  # offered, not taken
        self.assertNotIn('PIPELINING', out.split('MAIL FROM')[0])
        msg, received, rec = self.assert_delivered(marker, 'mx', source, 'relay-plain.example', mark, 'none')
        self.assertIn('with ESMTP', received)
        self.assertEqual(rec.get('sni'), '-', rec)

    def test_smtplib_starttls_sees_postfix_extensions(self):
        marker, source, mark = self.marker(), '127.0.0.34', self.tf.mark()
        smtp = mailclients.smtp(self.port['submission'], source=source, local_hostname='py.example')
        try:
            code, text = smtp.ehlo()
            self.assertEqual(code, 250)
            self.assertEqual(set(smtp.esmtp_features), {'starttls'})
            self.assertEqual(smtp.mail(USER_ADDRESS), (530, b'5.7.0 Must issue a STARTTLS command first'))
            smtp.rset()
            smtp.starttls(context=ssl.create_default_context(cafile=self.pki.ca_cert))
            code, text = smtp.ehlo()
            self.assertIn(b'mx.example.test', text)  # Postfix answers now
            self.assertIn('pipelining', smtp.esmtp_features)
            self.assertIn('auth', smtp.esmtp_features)
            smtp.login(dovecot.USER, dovecot.PASSWORD)
            smtp.sendmail(USER_ADDRESS, [USER_ADDRESS], f'Subject: {marker}\r\n\r\nbody\r\n')
        finally:
            mailclients.quietly(smtp.quit)
        self.assert_delivered(marker, 'submission', source, 'py.example', mark, 'TLSv1.3')

    def test_openssl_s_client_starttls_smtp(self):
        rc, out, err = mailclients.s_client_script(self.port['submission'], self.pki.ca_cert,
                                                   b'EHLO s-client.example\r\nQUIT\r\n', extra=['-starttls', 'smtp'])
        self.assertIn('250-mx.example.test', out, err)
        self.assertIn('250-PIPELINING', out, err)
        self.assertIn('221 2.0.0 Bye', out, err)

    def test_gnutls_cli_starttls_smtp(self):
        if not shutil.which('gnutls-cli'):
            self.skipTest('gnutls-cli not installed (package gnutls-bin)')
        name = mailclients.NAME
        out, err = mailclients.interactive(
            ['gnutls-cli', '--x509cafile', self.pki.ca_cert, '--sni-hostname', name, '--verify-hostname', name,
             '--starttls-proto=smtp', '-p', str(self.port['submission']), '127.0.0.1'],
            [b'EHLO gnutls.example\r\n', b'QUIT\r\n'], b'221 ')
        self.assertIn(b'250-mx.example.test', out, err)
        self.assertIn(b'250-AUTH', out, err)

    def test_mail_before_tls_refused_and_never_forwarded(self):
        pmark, mark = self.postfix.log_mark(), self.tf.mark()
        c = PlainClient(self.port['submission'], source='127.0.0.35')
        try:
            self.assertEqual(c.read_until(b'\r\n'), f'220 {FRONT} ESMTP\r\n'.encode())
            self.assertEqual(c.command(b'EHLO c.example\r\n', b'250 STARTTLS\r\n'),
                             f'250-{FRONT}\r\n250 STARTTLS\r\n'.encode())
            for line in (b'MAIL FROM:<a@example.test>\r\n', b'RCPT TO:<testuser@example.test>\r\n', b'DATA\r\n',
                         b'AUTH PLAIN AHRlc3R1c2VyAHRlc3RwYXNz\r\n'):
                self.assertEqual(c.command(line), b'530 5.7.0 Must issue a STARTTLS command first\r\n')
            self.assertEqual(c.command(b'QUIT\r\n'), b'221 2.0.0 Bye\r\n')
        finally:
            c.close()
        rec = self.tf.wait_for('close', since=mark, listener='submission', client=lambda v: v.startswith('127.0.0.35:'))
        self.assertEqual(rec.get('reason'), 'starttls_quit', rec)
        self.assertNotIn('127.0.0.35', self.postfix.log(pmark))


if __name__ == '__main__':
    unittest.main()
