"""README "ALPN, SNI and client certificates", seen from real clients.

- AlpnSniTest: each listener's ALPN id (imap, pop3, smtp) is accepted, a foreign one (http/1.1, or
  another listener's) gets the no_application_protocol alert (120, the ALPACA defence), no ALPN is
  served; strict_sni refuses an SNI that no certificate covers (unrecognized_name, 112) and serves
  covered names and no SNI.
- ClientCertificateTest: a client CA (certs.ClientPki: alice good, mallory revoked in the CRL).
  verify_client = "required": alice is relayed (client_cn=alice in the log), mallory and no
  certificate are refused; "optional": everyone gets through and the PROXY v2 SSL TLV carries the
  verify result, CERT_CONN and the CN; and Dovecot logs in a client with a certificate through v2.
"""
import ssl
import unittest

import backends
import certs
import dovecot
import harness
import mailclients
import proxyproto
import tlsclient
from mailclients import NAME

ALERT_UNRECOGNIZED_NAME = 112
ALERT_NO_APPLICATION_PROTOCOL = 120


class AlpnSniTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = cls.pki = certs.get_pki()
        cls.backend = backends.GreetingEchoBackend()
        cls.addClassCleanup(cls.backend.close)
        cls.port = {name: harness.free_port() for name in ('imap', 'pop3', 'smtp', 'strict')}
        listeners = [{'name': proto, 'listen': f'127.0.0.1:{cls.port[proto]}', 'protocol': proto,
                      'backend': cls.backend.address} for proto in ('imap', 'pop3', 'smtp')]
        listeners.append({'name': 'strict', 'listen': f'127.0.0.1:{cls.port["strict"]}', 'protocol': 'imap',
                          'backend': cls.backend.address, 'tls': {'strict_sni': True}})
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': p.mail.cert, 'key': p.mail.key},
            local_names=[{'names': ['imap.example.org'], 'cert': p.exact.cert, 'key': p.exact.key},
                         {'names': ['*.example.net'], 'cert': p.wildcard.cert, 'key': p.wildcard.key}],
            listeners=listeners), 'alpn-sni')

    def s_client(self, listener, servername=NAME, alpn=None):
        extra = ['-alpn', alpn] if alpn else []
        return tlsclient.s_client(self.port[listener], servername=servername, cafile=self.pki.ca_cert, extra=extra)

    def assert_refused(self, r, alert, mark, listener):
        self.assertFalse(r.handshake_ok, r.describe())
        self.assertEqual(r.alert, alert, r.describe())
        # A session of an earlier test on the same listener may close after the mark: skip those.
        rec = self.tf.wait_for('close', since=mark, listener=listener, reason=lambda r: r != 'done')
        self.assertEqual(rec.get('reason'), 'handshake_failed', rec)

    def test_foreign_alpn_refused_with_alert_120(self):
        mark = self.tf.mark()
        r = self.s_client('imap', alpn='http/1.1')
        self.assert_refused(r, ALERT_NO_APPLICATION_PROTOCOL, mark, 'imap')

    def test_other_listeners_alpn_refused(self):
        """Cross-protocol: pop3 offered to the IMAP listener, imap to the SMTP listener."""
        for listener, alpn in (('imap', 'pop3'), ('smtp', 'imap')):
            with self.subTest(listener=listener, alpn=alpn):
                mark = self.tf.mark()
                self.assert_refused(self.s_client(listener, alpn=alpn), ALERT_NO_APPLICATION_PROTOCOL, mark, listener)

    def test_own_alpn_accepted(self):
        for proto in ('imap', 'pop3', 'smtp'):
            with self.subTest(alpn=proto):
                r = self.s_client(proto, alpn=proto)
                self.assertTrue(r.handshake_ok, r.describe())
                self.assertEqual(r.alpn, proto, r.describe())

    def test_own_alpn_among_others_accepted(self):
        r = self.s_client('imap', alpn='http/1.1,imap')
        self.assertTrue(r.handshake_ok, r.describe())
        self.assertEqual(r.alpn, 'imap', r.describe())

    def test_no_alpn_served(self):
        r = self.s_client('pop3')
        self.assertTrue(r.handshake_ok, r.describe())
        self.assertIsNone(r.alpn, r.describe())
        self.assertIn('No ALPN negotiated', r.out)

    def test_strict_sni_unknown_name_refused_with_alert_112(self):
        mark = self.tf.mark()
        r = tlsclient.s_client(self.port['strict'], servername='unknown.example.com')
        self.assert_refused(r, ALERT_UNRECOGNIZED_NAME, mark, 'strict')

    def test_strict_sni_covered_names_served(self):
        for sni, cn in (('imap.example.org', 'imap.example.org'),    # [[local_name]] exact
                        ('a.example.net', 'wildcard.example.net'),   # [[local_name]] wildcard
                        (NAME, NAME)):                               # the default certificate's SAN
            with self.subTest(sni=sni):
                r = tlsclient.s_client(self.port['strict'], servername=sni)
                self.assertTrue(r.handshake_ok, r.describe())
                self.assertEqual(r.cn, cn, r.describe())

    def test_strict_sni_without_sni_served(self):
        r = tlsclient.s_client(self.port['strict'], servername=None)
        self.assertTrue(r.handshake_ok, r.describe())
        self.assertEqual(r.cn, NAME, r.describe())

    def test_unknown_sni_served_without_strict_sni(self):
        r = tlsclient.s_client(self.port['imap'], servername='unknown.example.com')
        self.assertTrue(r.handshake_ok, r.describe())
        self.assertEqual(r.cn, NAME, r.describe())


class ClientCertificateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.cpki = certs.get_client_pki()
        cls.required = backends.ProxyDumpBackend()
        cls.addClassCleanup(cls.required.close)
        cls.optional = backends.ProxyDumpBackend()
        cls.addClassCleanup(cls.optional.close)
        cls.dovecot = None
        if dovecot.available() == '':  # the Dovecot check is skipped where it cannot run
            cls.dovecot = dovecot.Dovecot(instance='tlsfront-it-dovecot-mtls').start()
            cls.addClassCleanup(cls.dovecot.stop)
        cls.port = {name: harness.free_port() for name in ('required', 'optional', 'dovecot')}
        client_tls = {'client_ca': cls.cpki.ca_cert, 'client_crl': cls.cpki.crl}
        listeners = [
            {'name': 'required', 'listen': f'127.0.0.1:{cls.port["required"]}', 'protocol': 'imap',
             'backend': cls.required.address, 'proxy_protocol': 'v2', 'proxy_protocol_tlvs': 'dovecot',
             'tls': dict(client_tls, verify_client='required')},
            {'name': 'optional', 'listen': f'127.0.0.1:{cls.port["optional"]}', 'protocol': 'imap',
             'backend': cls.optional.address, 'proxy_protocol': 'v2', 'proxy_protocol_tlvs': 'dovecot',
             'tls': dict(client_tls, verify_client='optional')}]
        if cls.dovecot:
            listeners.append({'name': 'dovecot', 'listen': f'127.0.0.1:{cls.port["dovecot"]}', 'protocol': 'imap',
                              'backend': f'127.0.0.1:{cls.dovecot.imap_proxy_port}', 'proxy_protocol': 'v2',
                              'proxy_protocol_tlvs': 'dovecot', 'tls': dict(client_tls, verify_client='optional')})
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': cls.pki.mail.cert, 'key': cls.pki.mail.key}, listeners=listeners), 'mtls')

    def ctx(self, leaf=None):
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        if leaf:
            ctx.load_cert_chain(leaf.cert, leaf.key)
        return ctx

    def session(self, listener, leaf, source):
        """Connect with the client certificate (or none), wait for the greeting, echo one line.
        Returns (client port, close record)."""
        mark = self.tf.mark()
        s = tlsclient.tls_connect(self.port[listener], servername=NAME, ctx=self.ctx(leaf), source=source)
        try:
            port = s.getsockname()[1]
            self.assertEqual(tlsclient.read_line(s), b'* OK ready\r\n')
            self.assertEqual(tlsclient.echo_roundtrip(s, b'a NOOP\r\n'), b'a NOOP\r\n')
        finally:
            s.close()
        return port, self.tf.wait_for('close', since=mark, client=f'{source}:{port}')

    def assert_refused(self, listener, leaf, source):
        mark = self.tf.mark()
        before = self.required.count()
        try:
            s = tlsclient.tls_connect(self.port[listener], servername=NAME, ctx=self.ctx(leaf), source=source)
        except (ssl.SSLError, OSError) as e:
            how = f'handshake: {e!r}'
        else:
            # TLS 1.3: the server judges the client's certificate after the client's side of the
            # handshake is done, so the refusal (an alert) shows up on the first read
            data, how = tlsclient.recv_until_close(s, timeout=5)
            s.close()
            self.assertEqual(data, b'', f'expected a refusal, read {data!r}')
            self.assertTrue(how.startswith('ssl_error:') or how in ('reset', 'eof_without_close_notify'), how)
        rec = self.tf.wait_for('close', since=mark, client=lambda c: bool(c) and c.startswith(source + ':'))
        self.assertEqual(rec.get('reason'), 'handshake_failed', f'{rec} (client saw {how})')
        self.assertEqual(self.required.count(), before, 'a refused client reached the backend')
        return how

    # -- required --------------------------------------------------------------------------------
    def test_required_good_certificate_relayed(self):
        port, rec = self.session('required', self.cpki.alice, '127.0.0.21')
        self.assertEqual(rec.get('reason'), 'done', rec)
        self.assertEqual(rec.get('client_cn'), 'alice', rec)

    def test_required_revoked_certificate_refused(self):
        how = self.assert_refused('required', self.cpki.mallory, '127.0.0.22')
        self.assertIn('CERTIFICATE_REVOKED', how)  # alert 44

    def test_required_no_certificate_refused(self):
        how = self.assert_refused('required', None, '127.0.0.23')
        self.assertIn('CERTIFICATE_REQUIRED', how)  # alert 116 (TLS 1.3)

    # -- optional --------------------------------------------------------------------------------
    def optional_header(self, leaf, source):
        index = self.optional.count()
        port, rec = self.session('optional', leaf, source)
        self.assertEqual(rec.get('reason'), 'done', rec)
        conn, h = self.optional.wait_header(index)
        self.assertEqual(h.src, (source, port), h.describe())
        self.assertIsNotNone(h.ssl, h.describe())
        return rec, h

    def test_optional_good_certificate(self):
        rec, h = self.optional_header(self.cpki.alice, '127.0.0.24')
        self.assertEqual(rec.get('client_cn'), 'alice', rec)
        self.assertEqual(h.ssl['verify'], 0, h.describe())
        self.assertTrue(h.ssl['client'] & proxyproto.PP2_CLIENT_SSL, h.describe())
        self.assertTrue(h.ssl['client'] & proxyproto.PP2_CLIENT_CERT_CONN, h.describe())
        self.assertEqual(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_CN), b'alice', h.describe())

    def test_optional_revoked_certificate_gets_through_with_verify_result(self):
        rec, h = self.optional_header(self.cpki.mallory, '127.0.0.25')
        self.assertNotEqual(h.ssl['verify'], 0, f'a revoked certificate must not verify: {h.describe()}')
        self.assertTrue(h.ssl['client'] & proxyproto.PP2_CLIENT_CERT_CONN, h.describe())

    def test_optional_no_certificate_gets_through(self):
        rec, h = self.optional_header(None, '127.0.0.26')
        self.assertIsNone(rec.get('client_cn'), rec)
        self.assertEqual(h.ssl['client'] & (proxyproto.PP2_CLIENT_CERT_CONN | proxyproto.PP2_CLIENT_CERT_SESS), 0,
                         h.describe())
        self.assertIsNone(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_CN), h.describe())

    def test_optional_dovecot_login_with_certificate(self):
        if not self.dovecot:
            self.skipTest(dovecot.available())
        source = '127.0.0.27'
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        m = mailclients.imap4_ssl(self.port['dovecot'], self.ctx(self.cpki.alice), source=source)
        try:
            self.assertEqual(m.login(dovecot.USER, dovecot.PASSWORD)[0], 'OK')
        finally:
            mailclients.quietly(m.logout)
        rec = self.tf.wait_for('close', since=mark, listener='dovecot',
                               client=lambda c: bool(c) and c.startswith(source + ':'))
        self.assertEqual(rec.get('client_cn'), 'alice', rec)
        login = self.dovecot.wait_login('imap', rec['client'].rpartition(':')[2], since=dmark)
        self.assertEqual(login.get('rip'), source, login['line'])
        self.assertEqual(login.get('local_name'), NAME, login['line'])
        self.assertTrue(login['secured'], login['line'])


if __name__ == '__main__':
    unittest.main()
