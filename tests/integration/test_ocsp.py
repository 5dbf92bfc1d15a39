"""OCSP stapling: a response made by `openssl ocsp` from a test CA is stapled (`openssl s_client
-status` shows it, good); one that has expired, is for another certificate or says revoked is a
warning at load and is not stapled; `--check` shows what is stapled; a reload takes a new response."""
import os
import re
import shutil
import subprocess
import unittest

import backends
import certs
import harness
import tlsclient

HERE = os.path.dirname(os.path.abspath(__file__))


def ocsp(directory, out, *extra, cert='leaf.pem', index='index.txt', prefix=()):
    cmd = [*prefix, 'openssl', 'ocsp', '-index', index, '-rsigner', 'ca.pem', '-rkey', 'ca.key', '-CA', 'ca.pem',
           '-issuer', 'ca.pem', '-cert', cert, '-respout', out, '-ndays', '7', *extra]
    r = subprocess.run(cmd, cwd=directory, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f'{cmd}: {r.stderr.decode()}')
    return os.path.join(directory, out)


class OcspStaplingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which('faketime'):
            raise unittest.SkipTest('faketime is not installed (scripts/install-deps.sh installs it)')
        d = cls.dir = harness.new_dir('ocsp')
        r = harness.run(['bash', os.path.join(HERE, 'ocsp_fixture.sh'), d], timeout=60)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode())
        cls.pki = certs.get_pki()
        # the leaf with its issuer in the chain: the issuer key hash is checked too
        cls.chain = os.path.join(d, 'chain.pem')
        with open(cls.chain, 'w') as out:
            for name in ('leaf.pem', 'ca.pem'):
                with open(os.path.join(d, name)) as f:
                    out.write(f.read())
        cls.good = os.path.join(d, 'resp.der')
        cls.expired = ocsp(d, 'expired.der', prefix=('faketime', '-f', '-30d'))
        with open(os.path.join(d, 'index.txt')) as f:
            revoked_index = f.read().replace('V\t', 'R\t', 1).replace('\t\t', '\t261101000000Z\t', 1)
        with open(os.path.join(d, 'revoked-index.txt'), 'w') as f:
            f.write(revoked_index)
        cls.revoked = ocsp(d, 'revoked.der', index='revoked-index.txt')
        cls.echo = backends.EchoBackend()
        cls.addClassCleanup(cls.echo.close)
        cls.port = harness.free_port()
        cls.live = os.path.join(d, 'live.der')
        shutil.copy(cls.good, cls.live)
        local_names = [
            {'names': ['expired.test'], 'cert': cls.chain, 'key': os.path.join(d, 'leaf.key'),
             'ocsp_response': cls.expired},
            {'names': ['revoked.test'], 'cert': cls.chain, 'key': os.path.join(d, 'leaf.key'),
             'ocsp_response': cls.revoked},
            # a response for the leaf served next to another certificate
            {'names': ['other.test'], 'cert': cls.pki.other.cert, 'key': cls.pki.other.key,
             'ocsp_response': cls.good},
        ]
        cls.config = harness.make_config(
            tls={'cert': cls.chain, 'key': os.path.join(d, 'leaf.key'), 'ocsp_response': cls.live},
            local_names=local_names,
            listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.port}', 'protocol': 'imap',
                        'backend': cls.echo.address}])
        cls.tf = harness.start_tlsfront(cls, cls.config, 'ocsp')

    def status(self, servername):
        r = tlsclient.s_client(self.port, servername=servername, extra=['-status'])
        return r.out

    def test_good_response_is_stapled(self):
        out = self.status('mail.example.test')
        self.assertIn('OCSP Response Status: successful', out)
        self.assertIn('Cert Status: good', out)
        self.assertRegex(out, r'Serial Number: 8A1B2C3D4E5F60718293')

    def test_not_requested_not_sent(self):
        r = tlsclient.s_client(self.port, servername='mail.example.test')
        self.assertNotIn('OCSP Response Status', r.out)

    def test_expired_mismatched_revoked_are_warnings_and_not_stapled(self):
        warnings = [r['msg'] for r in self.tf.events('certificate')]
        for path, cause in ((self.expired, r'not stapled: expired \(nextUpdate \d{4}-\d\d-\d\d'),
                            (self.revoked, r'not stapled: certificate status revoked'),
                            (self.good, r'not stapled: for another certificate')):
            with self.subTest(path=path):
                self.assertTrue(any(re.search(r":\d+:\d+: OCSP response '" + re.escape(path) + "' " + cause, w)
                                    for w in warnings), warnings)
        for name in ('expired.test', 'revoked.test', 'other.test'):
            with self.subTest(name=name):
                out = self.status(name)
                self.assertIn('OCSP response: no response sent', out)
                self.assertNotIn('OCSP Response Status', out)

    def test_check_shows_what_is_stapled(self):
        r = harness.run([harness.TLSFRONT, '--check', '-c', self.tf.config_path])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertRegex(out, re.escape(self.chain) + r' \(ECDSA-P256 CN=mail.example.test, expires \S+, OCSP stapled '
                         r'until \d{4}-\d\d-\d\d\) serves listener imaps')
        self.assertRegex(out, r'warning: .*not stapled: expired')

    def test_reload_takes_a_new_response(self):
        shutil.copy(os.path.join(self.dir, 'resp-sha256.der'), self.live)
        try:
            self.tf.reload()
            out = self.status('mail.example.test')
            self.assertIn('Cert Status: good', out)
            self.assertIn('Hash Algorithm: sha256', out)
        finally:
            shutil.copy(self.good, self.live)
            self.tf.reload()


if __name__ == '__main__':
    unittest.main()
