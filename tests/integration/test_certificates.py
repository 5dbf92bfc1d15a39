"""Certificate choice and TLS versions, checked from outside with `openssl s_client`.

Order (DESIGN.md): SNI exact > SNI wildcard (one label) > local address > listener > global.
Each certificate has its own subject CN; the tests read it from s_client's `subject=` line.
"""
import subprocess
import unittest

import backends
import certs
import harness
from tlsclient import s_client


class CertificateChoiceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = cls.pki = certs.get_pki()
        cls.echo = backends.GreetingEchoBackend()
        cls.port = harness.free_port(('127.0.0.1', '127.0.0.2'))       # listener with its own cert
        cls.port_global = harness.free_port()                           # listener without: global cert
        cls.port_tls13 = harness.free_port()                            # min_version = "1.3"
        config = harness.make_config(
            tls={'cert': p.global_.cert, 'key': p.global_.key},
            local_names=[
                {'names': ['imap.example.org'], 'cert': p.exact.cert, 'key': p.exact.key},
                {'names': ['*.example.net'], 'cert': p.wildcard.cert, 'key': p.wildcard.key},
                {'names': ['dual.example.com'], 'cert': p.dual_rsa.cert, 'key': p.dual_rsa.key,
                 'alt_cert': p.dual_ec.cert, 'alt_key': p.dual_ec.key},
                {'names': ['ecdsa.example.org'], 'cert': p.ec_only.cert, 'key': p.ec_only.key},
                {'names': ['secret.example.org'], 'cert': p.encrypted.cert, 'key': p.encrypted.key,
                 'key_password_file': p.encrypted.password_file},
                {'names': ['combined.example.org'], 'cert': p.combined.combined},
            ],
            locals_=[{'address': '127.0.0.2', 'cert': p.local2.cert, 'key': p.local2.key}],
            listeners=[
                {'name': 'imaps', 'listen': [f'127.0.0.1:{cls.port}', f'127.0.0.2:{cls.port}'],
                 'protocol': 'imap', 'backend': cls.echo.address,
                 'tls': {'cert': p.listener.cert, 'key': p.listener.key}},
                {'name': 'pop3s', 'listen': f'127.0.0.1:{cls.port_global}', 'protocol': 'pop3',
                 'backend': cls.echo.address},
                {'name': 'tls13only', 'listen': f'127.0.0.1:{cls.port_tls13}', 'protocol': 'imap',
                 'backend': cls.echo.address, 'tls': {'min_version': '1.3'}},
            ])
        cls.addClassCleanup(cls.echo.close)
        cls.tf = harness.start_tlsfront(cls, config, 'certs')

    def served(self, servername, port=None, host='127.0.0.1', extra=()):
        r = s_client(port or self.port, host=host, servername=servername, cafile=self.pki.ca_cert, extra=extra)
        self.assertTrue(r.handshake_ok, f'handshake failed (SNI {servername!r}):\n{r.describe()}')
        self.assertEqual(r.verify_code, 0, r.describe())
        return r

    def assert_cn(self, servername, cn, **kw):
        r = self.served(servername, **kw)
        self.assertEqual(r.cn, cn, f'SNI {servername!r}: wrong certificate\n{r.describe()}')
        return r

    # -- SNI ---------------------------------------------------------------------------------------
    def test_sni_exact_local_name(self):
        self.assert_cn('imap.example.org', 'imap.example.org')

    def test_sni_exact_beats_listener_cert_on_any_listener(self):
        self.assert_cn('imap.example.org', 'imap.example.org', port=self.port_global)

    def test_sni_wildcard_one_label(self):
        r = self.assert_cn('a.example.net', 'wildcard.example.net')
        # issued by the intermediate: the handshake only verifies when the chain was sent whole
        self.assertEqual(r.verify_code, 0)

    def test_sni_wildcard_does_not_match_two_labels(self):
        self.assert_cn('a.b.example.net', 'listener.test')

    def test_sni_wildcard_does_not_match_bare_domain(self):
        self.assert_cn('example.net', 'listener.test')

    def test_sni_unknown_name_falls_back_to_listener_cert(self):
        self.assert_cn('unknown.invalid', 'listener.test')

    def test_sni_unknown_name_falls_back_to_global_cert(self):
        self.assert_cn('unknown.invalid', 'global.test', port=self.port_global)

    def test_no_sni_gets_listener_cert(self):
        self.assert_cn(None, 'listener.test')

    def test_no_sni_gets_global_cert_without_listener_cert(self):
        self.assert_cn(None, 'global.test', port=self.port_global)

    def test_local_address_cert(self):
        self.assert_cn(None, 'local2.test', host='127.0.0.2')

    def test_local_address_cert_for_unknown_sni(self):
        self.assert_cn('unknown.invalid', 'local2.test', host='127.0.0.2')

    def test_sni_beats_local_address(self):
        self.assert_cn('imap.example.org', 'imap.example.org', host='127.0.0.2')
        self.assert_cn('x.example.net', 'wildcard.example.net', host='127.0.0.2')

    def test_encrypted_key_with_password_file(self):
        self.assert_cn('secret.example.org', 'secret.example.org')

    def test_combined_cert_and_key_file(self):
        self.assert_cn('combined.example.org', 'combined.example.org')

    def test_ecdsa_only_certificate(self):
        r = self.assert_cn('ecdsa.example.org', 'ecdsa.example.org')
        self.assertEqual(r.key_bits, 256, r.describe())

    # -- RSA + ECDSA (alt_cert) ------------------------------------------------------------------
    def test_alt_cert_ecdsa_only_client_tls13(self):
        r = self.assert_cn('dual.example.com', 'dual-ecdsa.example.com',
                           extra=['-tls1_3', '-sigalgs', 'ECDSA+SHA256'])
        self.assertEqual(r.key_bits, 256, r.describe())

    def test_alt_cert_rsa_only_client_tls13(self):
        r = self.assert_cn('dual.example.com', 'dual-rsa.example.com',
                           extra=['-tls1_3', '-sigalgs', 'RSA-PSS+SHA256:RSA+SHA256'])
        self.assertEqual(r.key_bits, 2048, r.describe())

    def test_alt_cert_ecdsa_only_client_tls12(self):
        self.assert_cn('dual.example.com', 'dual-ecdsa.example.com',
                       extra=['-tls1_2', '-sigalgs', 'ECDSA+SHA256'])

    def test_alt_cert_rsa_only_client_tls12(self):
        self.assert_cn('dual.example.com', 'dual-rsa.example.com',
                       extra=['-tls1_2', '-sigalgs', 'RSA-PSS+SHA256:RSA+SHA256'])

    def test_alt_cert_client_accepting_both_gets_one_of_them(self):
        r = self.served('dual.example.com')
        self.assertIn(r.cn, ('dual-rsa.example.com', 'dual-ecdsa.example.com'), r.describe())

    # -- versions ----------------------------------------------------------------------------------
    def test_tls12_accepted(self):
        r = self.served('imap.example.org', extra=['-tls1_2'])
        self.assertEqual(r.protocol, 'TLSv1.2', r.describe())

    def test_tls13_accepted(self):
        r = self.served('imap.example.org', extra=['-tls1_3'])
        self.assertEqual(r.protocol, 'TLSv1.3', r.describe())

    def test_tls11_refused(self):
        cmd_extra = ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']
        # Control: the same client settings do complete a TLS 1.1 handshake with a server that
        # allows it, so a refusal below comes from tlsfront and not from the client.
        ctl_port = harness.free_port()
        srv = harness.register_process(subprocess.Popen(
            ['openssl', 's_server', '-accept', f'127.0.0.1:{ctl_port}', '-cert', self.pki.global_.cert,
             '-key', self.pki.global_.key, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:  # (s_server quits after a connection once its stdin is at EOF: keep stdin open)
            harness.wait_port_listening('127.0.0.1', ctl_port, 10)
            ctl = s_client(ctl_port, servername='global.test', extra=cmd_extra)
        finally:
            srv.stdin.close()
            srv.kill()
            srv.wait(timeout=5)
        if not ctl.handshake_ok or ctl.protocol != 'TLSv1.1':
            self.skipTest(f'this OpenSSL cannot speak TLS 1.1 at all, nothing to compare:\n{ctl.describe()}')

        mark = self.tf.mark()
        r = s_client(self.port, servername='imap.example.org', extra=cmd_extra)
        self.assertFalse(r.handshake_ok, f'TLS 1.1 handshake succeeded:\n{r.describe()}')
        self.assertNotEqual(r.rc, 0, r.describe())
        rec = self.tf.wait_for('close', since=mark, timeout=5, reason='handshake_failed')
        self.assertEqual(rec.get('tls'), '-', rec)

    def test_min_version_13_refuses_tls12_client(self):
        mark = self.tf.mark()
        r = s_client(self.port_tls13, servername='imap.example.org', extra=['-tls1_2'])
        self.assertFalse(r.handshake_ok, f'TLS 1.2 accepted by a min_version=1.3 listener:\n{r.describe()}')
        self.tf.wait_for('close', since=mark, timeout=5, reason='handshake_failed', listener='tls13only')

    def test_min_version_13_accepts_tls13_client(self):
        r = self.served('imap.example.org', port=self.port_tls13, extra=['-tls1_3'])
        self.assertEqual(r.protocol, 'TLSv1.3', r.describe())

    # -- the log line carries what was negotiated ---------------------------------------------------
    def test_close_log_line_has_sni_version_and_cipher(self):
        # TLS 1.3 sessions free their SSL object once tlsfront's own record layer takes over: the
        # line still names what was negotiated.
        for flag, version, cipher in (('-tls1_2', 'TLSv1.2', r'^ECDHE-|^TLS_ECDHE_'),
                                      ('-tls1_3', 'TLSv1.3', r'^TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$')):
            with self.subTest(version=version):
                mark = self.tf.mark()
                self.served('logline.example.net', extra=[flag])
                rec = self.tf.wait_for('close', since=mark, timeout=10, sni='logline.example.net')
                self.assertEqual(rec.get('listener'), 'imaps', rec)
                self.assertEqual(rec.get('tls'), version, rec)
                self.assertRegex(rec.get('cipher', ''), cipher, rec)
                self.assertRegex(rec.get('client', ''), r'^127\.0\.0\.1:\d+$')
                self.assertRegex(rec.get('conn', ''), r'^[0-9a-f]+$')
                for key in ('bytes_in', 'bytes_out', 'duration_ms'):
                    self.assertRegex(rec.get(key, ''), r'^\d+$', f'{key} in {rec}')
                self.assertIn(rec.get('reason'), ('done', 'client_disconnected', 'client_error'), rec)
                self.assertRegex(rec.get('ts', ''), r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$')
                self.assertEqual(rec.get('level'), 'info', rec)


class ListeningLinesTest(unittest.TestCase):
    """event=listening once per listen address, then event=ready once."""

    def test_listening_and_ready_lines(self):
        p = certs.get_pki()
        a, b = harness.free_port(('127.0.0.1', '127.0.0.2')), harness.free_port()
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  listeners=[{'name': 'one', 'listen': [f'127.0.0.1:{a}', f'127.0.0.2:{a}'],
                                              'protocol': 'imap', 'backend': '127.0.0.1:1'},
                                             {'name': 'two', 'listen': f'127.0.0.1:{b}', 'protocol': 'smtp',
                                              'backend': '127.0.0.1:1'}])
        tf = harness.TlsFront(cfg, 'listening').start()
        try:
            seen = {(r['listener'], r['address']) for r in tf.events('listening')}
            self.assertEqual(seen, {('one', f'127.0.0.1:{a}'), ('one', f'127.0.0.2:{a}'), ('two', f'127.0.0.1:{b}')})
            self.assertEqual(len(tf.events('ready')), 1)
            ready_index = next(i for i, r in enumerate(tf.records) if r and r.get('event') == 'ready')
            listening_index = max(i for i, r in enumerate(tf.records) if r and r.get('event') == 'listening')
            self.assertLess(listening_index, ready_index)
        finally:
            problem = tf.stop_and_check()
        self.assertFalse(problem, problem)
        self.assertTrue(tf.events('stopping'), tf.tail())
        self.assertTrue(tf.events('stopped'), tf.tail())


if __name__ == '__main__':
    unittest.main()
