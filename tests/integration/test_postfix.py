"""Postfix 3.7 as the SMTPS (port-465-style) backend: tlsfront terminates implicit TLS and sends a
PROXY header (v2 with proxy_protocol_tlvs = "postfix", or v1) to an smtpd with
`smtpd_upstream_proxy_protocol = haproxy`. Messages sent with swaks --tlsc, curl smtps:// and
Python smtplib (each bound to its own 127.0.0.x) are delivered into the Maildir Dovecot serves, and
the delivered message's Received header names the client address from the PROXY header, not
127.0.0.1. SASL AUTH goes through Dovecot's auth service."""
import os
import shutil
import ssl
import unittest
import uuid

import certs
import dovecot
import harness
import mailclients
import postfix

USER_ADDRESS = f'{dovecot.USER}@example.test'


class PostfixProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = dovecot.available() or postfix.available()
        if why:
            raise unittest.SkipTest(why)
        cls.pki = certs.get_pki()
        cls.dovecot = dovecot.Dovecot(instance='tlsfront-it-dovecot-postfix').start()
        cls.addClassCleanup(cls.dovecot.stop)
        cls.postfix = postfix.Postfix(cls.dovecot).start()
        cls.addClassCleanup(cls.postfix.stop)
        cls.port = {name: harness.free_port() for name in ('smtps_v2', 'smtps_v1', 'imaps')}
        smtp = f'127.0.0.1:{cls.postfix.smtp_proxy_port}'
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': cls.pki.mail.cert, 'key': cls.pki.mail.key},
            listeners=[{'name': 'smtps_v2', 'listen': f'127.0.0.1:{cls.port["smtps_v2"]}', 'protocol': 'smtp',
                        'backend': smtp, 'proxy_protocol': 'v2', 'proxy_protocol_tlvs': 'postfix'},
                       {'name': 'smtps_v1', 'listen': f'127.0.0.1:{cls.port["smtps_v1"]}', 'protocol': 'smtp',
                        'backend': smtp, 'proxy_protocol': 'v1'},
                       {'name': 'imaps', 'listen': f'127.0.0.1:{cls.port["imaps"]}', 'protocol': 'imap',
                        'backend': f'127.0.0.1:{cls.dovecot.imap_port}'}]), 'tlsfront-smtps')

    def assert_delivered_from(self, marker, listener, source, ehlo, mark, pmark):
        """The message is in the Maildir; its newest Received header and Postfix's log name the
        client's address and port as tlsfront saw them."""
        rec = self.tf.wait_for('close', since=mark, listener=listener,
                               client=lambda c: bool(c) and c.startswith(source + ':'))
        # After `221` a client may close without reading tlsfront's close_notify (swaks, smtplib),
        # and its kernel then answers with a reset: after the backend's end that is a normal end.
        self.assertEqual(rec.get('reason'), 'done', rec)
        client_port = rec['client'].rpartition(':')[2]
        msg = self.postfix.wait_delivered(marker.encode())
        received = postfix.received_headers(msg)
        self.assertTrue(received, msg.as_string()[:2000])
        self.assertIn(f'from {ehlo} (unknown [{source}])', received[0])
        self.assertNotIn('127.0.0.1', received[0])
        self.postfix.wait_log(rf'postfix/proxied/smtpd\[\d+\]: connect from unknown\[{source}\]:{client_port}$', pmark)
        return msg, received[0]

    def marker(self):
        return 'tlsfront-' + uuid.uuid4().hex[:12]

    def test_swaks_tlsc_through_v2(self):
        if not shutil.which('swaks'):
            self.skipTest('swaks not installed')
        marker, source = self.marker(), '127.0.0.6'
        mark, pmark = self.tf.mark(), self.postfix.log_mark()
        r = mailclients.swaks(self.port['smtps_v2'], self.pki.ca_cert, extra=[
            '--local-interface', source, '--ehlo', 'swaks.example', '--from', USER_ADDRESS, '--to', USER_ADDRESS,
            '--auth', 'PLAIN', '--auth-user', dovecot.USER, '--auth-password', dovecot.PASSWORD,
            '--header', f'Subject: {marker}'])
        out = r.stdout.decode(errors='replace')
        self.assertEqual(r.returncode, 0, out[-3000:] + r.stderr.decode(errors='replace'))
        self.assertIn('235 2.7.0 Authentication successful', out)
        msg, received = self.assert_delivered_from(marker, 'smtps_v2', source, 'swaks.example', mark, pmark)
        self.assertIn('with ESMTPA', received)  # SASL via Dovecot's auth service
        self.assertEqual(msg['Subject'], marker)

    def curl_send(self, listener, source, ehlo):
        marker = self.marker()
        path = os.path.join(harness.new_dir('curl-msg'), 'msg.eml')
        with open(path, 'w', newline='') as f:  # SMTP wants CRLF line ends
            f.write(f'From: {USER_ADDRESS}\r\nTo: {USER_ADDRESS}\r\nSubject: {marker}\r\n\r\nvia curl\r\n')
        mark, pmark = self.tf.mark(), self.postfix.log_mark()
        rc, out, err = mailclients.curl(self.pki.ca_cert, self.port[listener], 'smtps', f'/{ehlo}',
                                        interface=source,  # the URL path is the EHLO name
                                        extra=['--mail-from', USER_ADDRESS, '--mail-rcpt', USER_ADDRESS,
                                               '--upload-file', path])
        self.assertEqual(rc, 0, f'{err}\nmaillog:\n{self.postfix.log(pmark)}')
        return self.assert_delivered_from(marker, listener, source, ehlo, mark, pmark)

    def test_curl_smtps_through_v2(self):
        self.curl_send('smtps_v2', '127.0.0.31', 'curl-v2.example')

    def test_curl_smtps_through_v1(self):
        self.curl_send('smtps_v1', '127.0.0.32', 'curl-v1.example')

    def test_smtplib_smtp_ssl_then_imap(self):
        """smtplib with SNI and verification, AUTH, delivery, and the message read back over IMAPS."""
        marker, source = self.marker(), '127.0.0.33'
        mark, pmark = self.tf.mark(), self.postfix.log_mark()
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        s = mailclients.smtp_ssl(self.port['smtps_v2'], ctx, source=source, local_hostname='py.example')
        try:
            self.assertEqual(s.login(dovecot.USER, dovecot.PASSWORD)[0], 235)
            s.sendmail(USER_ADDRESS, [USER_ADDRESS], f'Subject: {marker}\r\n\r\nvia smtplib\r\n')
        finally:
            mailclients.quietly(s.quit)
        self.assert_delivered_from(marker, 'smtps_v2', source, 'py.example', mark, pmark)
        m = mailclients.imap4_ssl(self.port['imaps'], ctx)
        try:
            self.assertEqual(m.login(dovecot.USER, dovecot.PASSWORD)[0], 'OK')
            m.select('INBOX', readonly=True)
            typ, data = m.search(None, 'SUBJECT', f'"{marker}"')
            self.assertEqual(typ, 'OK')
            self.assertTrue(data[0].split(), f'{marker} not found over IMAP')
        finally:
            mailclients.quietly(m.logout)


if __name__ == '__main__':
    unittest.main()
