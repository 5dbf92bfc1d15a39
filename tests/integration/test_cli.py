"""Command line: --version, --check (summary and errors with FILE:LINE:COLUMN)."""
import os
import re
import unittest

import certs
import harness
from harness import run


def project_version():
    with open(os.path.join(harness.PROJECT_ROOT, 'meson.build')) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    return m.group(1) if m else '0.1.0'


def q(s):
    return harness.toml_value(s)


class VersionTest(unittest.TestCase):
    def test_version(self):
        r = run([harness.TLSFRONT, '--version'], timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        first = r.stdout.decode().splitlines()[0] if r.stdout else ''
        self.assertEqual(first, f'tlsfront {project_version()}')


class CheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.dir = harness.new_dir('check')

    def check(self, text, name='cfg.toml'):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        r = run([harness.TLSFRONT, '--check', '-c', path], timeout=20 * harness.time_scale())
        return path, r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')

    # -- success ---------------------------------------------------------------------------------
    def test_check_summary_names_listeners_and_certificates(self):
        p = self.pki
        text = harness.make_config(
            tls={'cert': p.global_.cert, 'key': p.global_.key},
            local_names=[{'names': ['imap.example.org'], 'cert': p.exact.cert, 'key': p.exact.key},
                         {'names': ['*.example.net'], 'cert': p.wildcard.cert, 'key': p.wildcard.key},
                         {'names': ['dual.example.com'], 'cert': p.dual_rsa.cert, 'key': p.dual_rsa.key,
                          'alt_cert': p.dual_ec.cert, 'alt_key': p.dual_ec.key},
                         {'names': ['secret.example.org'], 'cert': p.encrypted.cert, 'key': p.encrypted.key,
                          'key_password_file': p.encrypted.password_file},
                         {'names': ['combined.example.org'], 'cert': p.combined.combined}],
            locals_=[{'address': '127.0.0.2', 'cert': p.local2.cert, 'key': p.local2.key}],
            listeners=[{'name': 'imaps', 'listen': ['127.0.0.1:10993', '127.0.0.2:10993'], 'protocol': 'imap',
                        'backend': '127.0.0.1:10143',
                        'tls': {'cert': p.listener.cert, 'key': p.listener.key}},
                       {'name': 'pop3s', 'listen': '127.0.0.1:10995', 'protocol': 'pop3',
                        'backend': '127.0.0.1:10110'},
                       {'name': 'smtps', 'listen': '127.0.0.1:10465', 'protocol': 'smtp',
                        'backend': 'unix:/run/legacy-smtp.sock'}])
        path, rc, out, err = self.check(text)
        self.assertEqual(rc, 0, f'stdout:\n{out}\nstderr:\n{err}')
        lines = out.splitlines()

        def listener_line(name):
            for l in lines:
                if l.startswith(f'listener {name} '):
                    return l
            self.fail(f'no "listener {name} ..." line in:\n{out}')

        l = listener_line('imaps')
        self.assertIn('protocol=imap', l)
        self.assertIn('127.0.0.1:10993', l)
        self.assertIn('127.0.0.2:10993', l)
        self.assertIn('backend=127.0.0.1:10143', l)
        l = listener_line('pop3s')
        self.assertIn('protocol=pop3', l)
        self.assertIn('listen=127.0.0.1:10995', l)
        self.assertIn('backend=127.0.0.1:10110', l)
        l = listener_line('smtps')
        self.assertIn('protocol=smtp', l)
        self.assertIn('backend=unix:/run/legacy-smtp.sock', l)

        def cert_block(path):
            """Every summary line about the certificate file PATH ('certificate PATH (KEY CN=...) ...',
            possibly indented under a listener), joined."""
            found = [l.strip() for l in lines if l.strip().startswith(f'certificate {path} ')]
            if not found:
                self.fail(f'no "certificate {path} (...)" line in:\n{out}')
            return '\n'.join(found)

        def served(block):
            """What the lines say the certificate serves (the text after the '(KEY CN=...)' part)."""
            return '\n'.join(l.split(')', 1)[1] for l in block.splitlines())

        # certificate file, what its line must say about the key and CN, a name or address it serves
        for path, key_and_cn, serves in (
                (p.exact.cert, r'\(RSA-2048 CN=imap\.example\.org[,)]', 'imap.example.org'),
                (p.wildcard.cert, r'\(RSA-2048 CN=wildcard\.example\.net[,)]', '*.example.net'),
                (p.dual_rsa.cert, r'\(RSA-2048 CN=dual-rsa\.example\.com[,)]', 'dual.example.com'),
                (p.dual_ec.cert, r'\((ECDSA|EC)[^)]*CN=dual-ecdsa\.example\.com[,)]', 'dual.example.com'),
                (p.encrypted.cert, r'\(RSA-2048 CN=secret\.example\.org[,)]', 'secret.example.org'),
                (p.combined.combined, r'CN=combined\.example\.org[,)]', 'combined.example.org'),
                (p.local2.cert, r'CN=local2\.test[,)]', '127.0.0.2')):
            with self.subTest(certificate=path):
                b = cert_block(path)
                self.assertRegex(b, key_and_cn)
                self.assertIn(serves, served(b))
        b = cert_block(p.listener.cert)
        self.assertRegex(b, r'CN=listener\.test[,)]')
        self.assertIn('imaps', served(b))
        self.assertNotIn('pop3s', served(b))
        # the global [tls] cert serves the listeners that have none of their own
        b = cert_block(p.global_.cert)
        self.assertRegex(b, r'CN=global\.test[,)]')
        self.assertIn('pop3s', served(b))
        self.assertIn('smtps', served(b))
        self.assertNotIn('imaps', served(b))

    def test_check_does_not_start_the_proxy(self):
        p = self.pki
        port = harness.free_port()
        text = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                   listeners=[{'name': 'x', 'listen': f'127.0.0.1:{port}', 'protocol': 'imap',
                                               'backend': '127.0.0.1:1'}])
        path, rc, out, err = self.check(text)
        self.assertEqual(rc, 0, err)
        import socket
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(('127.0.0.1', port), timeout=2).close()

    def test_example_config_from_packaging_is_valid(self):
        """packaging/tlsfront.example.toml passes --check once its certificate paths exist."""
        p = self.pki
        src = os.path.join(harness.PROJECT_ROOT, 'packaging', 'tlsfront.example.toml')
        with open(src) as f:
            text = f.read()
        mapping = {
            '/etc/ssl/certs/mail.example.org.pem': p.global_.cert,
            '/etc/ssl/private/mail.example.org.key': p.global_.key,
            '/etc/ssl/certs/mail.example.org-ecdsa.pem': p.dual_ec.cert,
            '/etc/ssl/private/mail.example.org-ecdsa.key': p.dual_ec.key,
            '/etc/ssl/certs/imap.example.org.pem': p.exact.cert,
            '/etc/ssl/private/imap.example.org.key': p.exact.key,
            '/etc/ssl/private/example.net.pem': p.combined.combined,
            '/etc/ssl/certs/legacy.example.org.pem': p.encrypted.cert,
            '/etc/ssl/private/legacy.example.org.key': p.encrypted.key,
            '/etc/tlsfront/legacy.example.org.password': p.encrypted.password_file,
            '/etc/ssl/certs/192.0.2.10.pem': p.local2.cert,
            '/etc/ssl/private/192.0.2.10.key': p.local2.key,
            '/etc/ssl/certs/submission.example.org.pem': p.listener.cert,
            '/etc/ssl/private/submission.example.org.key': p.listener.key,
        }
        for k, v in mapping.items():
            self.assertIn(f'"{k}"', text, f'example config no longer mentions {k}; update this test')
            text = text.replace(f'"{k}"', q(v))
        left = re.findall(r'^\s*[a-z_]+\s*=\s*"(/etc/[^"]+)"', text, re.M)
        self.assertEqual(left, [], 'active paths in the example that this test does not map')
        path, rc, out, err = self.check(text, 'example.toml')
        self.assertEqual(rc, 0, f'stdout:\n{out}\nstderr:\n{err}')
        for name in re.findall(r'^name\s*=\s*"([^"]+)"', text, re.M):
            self.assertRegex(out, rf'(?m)^listener {re.escape(name)} ')

    # -- errors ----------------------------------------------------------------------------------
    def base_lines(self, extra_server=(), tls=None, listener_extra=(), more=()):
        p = self.pki
        tls = tls if tls is not None else [f'cert = {q(p.global_.cert)}', f'key = {q(p.global_.key)}']
        return (['[server]', 'workers = 1', *extra_server, '', '[tls]', *tls, '',
                 '[[listener]]', 'name = "imaps"', 'listen = "127.0.0.1:10993"', 'protocol = "imap"',
                 'backend = "127.0.0.1:10143"', *listener_extra, *more])

    def assert_error(self, lines, marker, cause_regex, marker_alternatives=()):
        """lines: the config; marker: text of the line the error must point at (1-based line number
        is computed), or alternatives. cause_regex: a word expected in the cause."""
        text = '\n'.join(lines) + '\n'
        path, rc, out, err = self.check(text, f'err{abs(hash(text)) % 10**8}.toml')
        self.assertEqual(rc, 1, f'expected exit 1; stdout:\n{out}\nstderr:\n{err}')
        want_lines = [i + 1 for i, l in enumerate(lines) if marker in l or any(a in l for a in marker_alternatives)]
        self.assertTrue(want_lines, 'test bug: marker not in config')
        m = None
        for l in err.splitlines():
            m = re.match(rf'^{re.escape(path)}:(\d+):(\d+): (.+)$', l)
            if m:
                break
        self.assertIsNotNone(m, f'no "{path}:LINE:COLUMN: cause" line on stderr:\n{err}')
        self.assertIn(int(m.group(1)), want_lines, f'error points at the wrong line:\n{err}\nconfig:\n{text}')
        self.assertGreaterEqual(int(m.group(2)), 1)
        self.assertRegex(m.group(3), re.compile(cause_regex, re.I))
        return m.group(3)

    def test_error_unknown_key(self):
        self.assert_error(self.base_lines(extra_server=['bogus_setting = 1']), 'bogus_setting', r'unknown|bogus_setting')

    def test_error_unknown_key_in_listener(self):
        self.assert_error(self.base_lines(listener_extra=['backnd = "127.0.0.1:1"']), 'backnd', r'unknown|backnd')

    def test_error_wrong_type(self):
        self.assert_error(self.base_lines(extra_server=['max_connections = "many"']), 'max_connections',
                          r'integer|type|number|expected')

    def test_error_bad_duration(self):
        self.assert_error(self.base_lines(extra_server=['handshake_timeout = "10x"']), 'handshake_timeout',
                          r'duration')

    def test_error_bad_address(self):
        lines = self.base_lines()
        lines[lines.index('listen = "127.0.0.1:10993"')] = 'listen = "127.0.0.1:99999"'
        self.assert_error(lines, '99999', r'address|port')

    def test_error_bad_backend_address(self):
        lines = self.base_lines()
        lines[lines.index('backend = "127.0.0.1:10143"')] = 'backend = "nonsense"'
        self.assert_error(lines, 'nonsense', r'address|port|backend')

    def test_error_duplicate_listener_name(self):
        lines = self.base_lines(more=['', '[[listener]]', 'name = "imaps"  # again', 'listen = "127.0.0.1:10994"',
                                      'protocol = "imap"', 'backend = "127.0.0.1:10143"'])
        self.assert_error(lines, '# again', r'duplicate')

    def test_error_unknown_protocol(self):
        lines = self.base_lines()
        lines[lines.index('protocol = "imap"')] = 'protocol = "http"'
        self.assert_error(lines, '"http"', r'protocol|imap|unknown|invalid')

    def test_error_admin_not_a_numeric_address(self):
        self.assert_error(self.base_lines(extra_server=['admin = "localhost:9993"']), 'admin',
                          r"bad 'admin': 'localhost:9993' is not a numeric")

    def test_error_unknown_user(self):
        self.assert_error(self.base_lines(extra_server=['user = "no-such-user-tlsfront"']), 'no-such-user',
                          r'user|exist|unknown')

    def test_error_unreadable_certificate(self):
        self.assert_error(self.base_lines(tls=['cert = "/nonexistent/tlsfront-test.pem"',
                                               f'key = {q(self.pki.global_.key)}']),
                          'nonexistent', r'no such file|not found|cannot|unable|open|read|exist')

    def test_error_key_does_not_match_certificate(self):
        self.assert_error(self.base_lines(tls=[f'cert = {q(self.pki.global_.cert)}',
                                               f'key = {q(self.pki.other.key)}']),
                          'key = ', r'match', marker_alternatives=('cert = ',))

    def test_error_wrong_key_password(self):
        bad = os.path.join(self.dir, 'wrong.password')
        with open(bad, 'w') as f:
            f.write('not the password\n')
        p = self.pki
        self.assert_error(self.base_lines(tls=[f'cert = {q(p.encrypted.cert)}', f'key = {q(p.encrypted.key)}',
                                               f'key_password_file = {q(bad)}']),
                          'key_password_file', r'password|decrypt', marker_alternatives=('key = ',))

    def test_error_encrypted_key_without_password(self):
        p = self.pki
        r_lines = self.base_lines(tls=[f'cert = {q(p.encrypted.cert)}', f'key = {q(p.encrypted.key)}'])
        self.assert_error(r_lines, 'key = ', r'password|decrypt|encrypt', marker_alternatives=('cert = ',))

    def test_error_proxy_header_over_limit(self):
        """README "PROXY protocol": the "dovecot" TLV set can exceed 232 bytes, so it is refused at load."""
        lines = self.base_lines(listener_extra=['proxy_protocol = "v2"', 'proxy_protocol_tlvs = "dovecot"',
                                                'proxy_header_limit = 232'])
        self.assert_error(lines, 'proxy_protocol = ', r'over proxy_header_limit',
                          marker_alternatives=('proxy_protocol_tlvs', 'proxy_header_limit'))

    def test_proxy_header_within_limit_accepted(self):
        """Controls for the refusal above: each profile within its own default limit passes."""
        for extra in (['proxy_protocol = "v2"', 'proxy_protocol_tlvs = "dovecot"'],
                      ['proxy_protocol = "v2"'],
                      ['proxy_protocol = "v2"', 'proxy_protocol_tlvs = "postfix"'],
                      ['proxy_protocol = "v1"', 'accept_proxy_from = ["127.0.0.7/32"]']):
            with self.subTest(extra=extra):
                text = '\n'.join(self.base_lines(listener_extra=extra)) + '\n'
                path, rc, out, err = self.check(text, f'ok{abs(hash(text)) % 10**8}.toml')
                self.assertEqual(rc, 0, f'stdout:\n{out}\nstderr:\n{err}')

    def test_error_syntax(self):
        lines = self.base_lines(extra_server=['log_level = "info'])
        self.assert_error(lines, 'log_level', r'.')

    def test_error_missing_config_file(self):
        r = run([harness.TLSFRONT, '--check', '-c', '/nonexistent/tlsfront.toml'], timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn('/nonexistent/tlsfront.toml', r.stderr.decode(errors='replace'))


if __name__ == '__main__':
    unittest.main()
