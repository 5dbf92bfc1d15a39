"""scripts/tlsfront-import-dovecot: Dovecot's TLS settings -> tlsfront TOML, checked by tlsfront.

- Dovecot's own shipped conf.d/10-ssl.conf (package dovecot-core): the global certificate and the
  default IMAPS/POP3S listeners to 127.0.0.1:143/110 with the "review" comment; ssl_dh and
  ssl_client_ca_dir reported at their lines; with its /etc paths moved under a temporary root
  where generated certificates are, the output passes `tlsfront --check`.
- A richer sample (comments, a continued line, quoted names, an alt certificate, client CA with
  CRLs, local_name blocks with several names, a wildcard and an encrypted key, local addresses,
  protocol blocks, !include_try, a service block): `--check` shows exactly the expected
  certificates for every listener, SNI name and local address, each converted key has its value,
  and each setting without an equivalent is reported at its line.
- Edge cases: an inline ssl_key_password is never printed; versions below 1.2, unknown curves and
  ciphers, hostnames and networks in local blocks, nested blocks are reported and the output still
  passes `--check`; unbalanced blocks and a missing file exit 1 naming the place; stdin works.
- Every cipher word the converter keeps is accepted by tlsfront's BoringSSL (and one it drops is
  not), so a converted ssl_cipher_list cannot fail `--check` on a word.
"""
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import tomllib
import unittest

import certs
import harness
from harness import run

SCRIPT = os.path.join(harness.PROJECT_ROOT, 'scripts', 'tlsfront-import-dovecot')
SHIPPED = '/usr/share/dovecot/conf.d/10-ssl.conf'
PROG = 'tlsfront-import-dovecot'


GUIDE = os.path.join(harness.PROJECT_ROOT, 'docs', 'migrating.md')


def convert(path, *args, input=None, cwd=None):
    r = run(['python3', SCRIPT, *args, path], input=input, timeout=30, cwd=cwd)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def check(test, toml_text, directory):
    """tlsfront --check on the text; its stdout (the test fails on a non-zero exit)."""
    path = os.path.join(directory, 'tlsfront.toml')
    with open(path, 'w') as f:
        f.write(toml_text)
    r = run([harness.TLSFRONT, '--check', '-c', path], timeout=20 * harness.time_scale())
    test.assertEqual(r.returncode, 0, f'--check failed: {r.stderr.decode()}\n--- config:\n{toml_text}')
    return r.stdout.decode()


def served(check_output):
    """{what a certificate serves ("listener imaps (default)", "names a,b"): {certificate paths}}."""
    roles = {}
    for m in re.finditer(r'(?m)^\s*certificate (\S+) \([^)]*\) serves (.+)$', check_output):
        roles.setdefault(m.group(2), set()).add(m.group(1))
    return roles


def warnings(stderr, source):
    """[(line, message)] of the converter's warnings (line 0: about the whole file)."""
    found = []
    for line in stderr.splitlines():
        m = re.match(rf'{PROG}: {re.escape(source)}(?::(\d+))?: (.*)$', line)
        if not m:
            raise AssertionError(f'not a warning line: {line!r}')
        found.append((int(m.group(1) or 0), m.group(2)))
    return found


def line_of(text, regex):
    """The number of the first line of `text` matching `regex`."""
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(regex, line):
            return number
    raise AssertionError(f'no line matches {regex!r}')


def assert_warned(test, found, line, fragment):
    test.assertTrue(any(l == line and fragment in m for l, m in found),
                    f'no warning at line {line} with {fragment!r} in:\n' + '\n'.join(f'{l}: {m}' for l, m in found))


def fenced_blocks(markdown):
    """[(marker, language, text)] of the fenced code blocks; marker: the name in an
    `<!-- import-dovecot: NAME -->` comment on the line before the block, else None."""
    blocks = []
    for m in re.finditer(r'(?:<!-- import-dovecot: (\S+) -->\n)?```(\w*)\n(.*?)\n```\n', markdown, re.S):
        blocks.append((m.group(1), m.group(2), m.group(3)))
    return blocks


def with_generated_files(text, directory):
    """A tlsfront.toml snippet with each /etc path it names pointed at a generated file: X.key and
    X.pem (or X.crt) of the same stem are one leaf's key and certificate, an X.pem without a key
    file becomes a file holding both; names with "ecdsa" get ECDSA leaves. user/group "tlsfront"
    become nobody/nogroup (the Debian package creates tlsfront; this machine need not have it)."""
    pki = certs.get_pki()
    rsa = iter([pki.global_, pki.listener, pki.exact, pki.wildcard, pki.local2, pki.mail, pki.other])
    ecdsa = iter([pki.ec_only, pki.dual_ec])
    paths = sorted(set(re.findall(r'"(/etc/[^"]+)"', text)))
    stem = lambda path: os.path.splitext(os.path.basename(path))[0]  # noqa: E731
    with_key_file = {stem(p) for p in paths if p.endswith('.key')}
    leaves = {}
    for path in paths:
        name = stem(path)
        if name not in leaves:
            leaves[name] = next(ecdsa if 'ecdsa' in name else rsa)
        leaf = leaves[name]
        if path.endswith('.key'):
            generated = leaf.key
        elif name in with_key_file:
            generated = leaf.cert
        else:
            generated = os.path.join(directory, name + '.cert-and-key.pem')
            with open(generated, 'w') as out:
                for part in (leaf.cert, leaf.key):
                    with open(part) as f:
                        out.write(f.read())
        text = text.replace(f'"{path}"', f'"{generated}"')
    text = re.sub(r'(?m)^user = "tlsfront"', 'user = "nobody"', text)
    return re.sub(r'(?m)^group = "tlsfront"', 'group = "nogroup"', text)


def load_converter():
    loader = importlib.machinery.SourceFileLoader('tlsfront_import_dovecot', SCRIPT)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@unittest.skipUnless(os.path.exists(SHIPPED), f'{SHIPPED} missing (package dovecot-core)')
class ShippedConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(SHIPPED) as f:
            cls.text = f.read()

    def test_converts_the_file_as_shipped(self):
        rc, out, err = convert(SHIPPED)
        self.assertEqual(rc, 0, err)
        config = tomllib.loads(out)
        self.assertEqual(config['tls'], {'cert': '/etc/dovecot/private/dovecot.pem',
                                         'key': '/etc/dovecot/private/dovecot.key'})
        self.assertEqual([(l['name'], l['protocol'], l['listen'], l['backend'], l['proxy_protocol'])
                          for l in config['listener']],
                         [('imaps', 'imap', ['0.0.0.0:993', '[::]:993'], '127.0.0.1:143', 'off'),
                          ('pop3s', 'pop3', ['0.0.0.0:995', '[::]:995'], '127.0.0.1:110', 'off')])
        self.assertNotIn('local_name', config)
        self.assertIn('REVIEW THEM', out)
        found = warnings(err, SHIPPED)
        assert_warned(self, found, line_of(self.text, r'^ssl_dh\s*='), 'ssl_dh: tlsfront uses ECDHE only')
        assert_warned(self, found, line_of(self.text, r'^ssl_client_ca_dir\s*='), 'ssl_client_ca_dir:')
        for line, message in found:  # nothing about the settings it converts
            self.assertFalse(re.match(r'(ssl|ssl_cert|ssl_key)\b', message), message)

    def test_output_passes_check_with_generated_certificates(self):
        """The shipped file with its /etc paths under a temporary root holding generated certificates."""
        root = harness.new_dir('dovecot-root')
        leaf = certs.get_pki().mail
        for source, name in ((leaf.cert, 'dovecot.pem'), (leaf.key, 'dovecot.key')):
            os.makedirs(os.path.join(root, 'etc/dovecot/private'), exist_ok=True)
            shutil.copy(source, os.path.join(root, 'etc/dovecot/private', name))
        moved = os.path.join(root, '10-ssl.conf')
        with open(moved, 'w') as f:
            f.write(self.text.replace('</etc/', f'<{root}/etc/'))
        rc, out, err = convert(moved)
        self.assertEqual(rc, 0, err)
        summary = check(self, out, root)
        cert = os.path.join(root, 'etc/dovecot/private/dovecot.pem')
        self.assertEqual(served(summary), {'listener imaps (default)': {cert}, 'listener pop3s (default)': {cert}})
        self.assertIn('CN=mail.example.test', summary)


class RichConfigTest(unittest.TestCase):
    """A 10-ssl.conf with local_name and local blocks, an alt certificate and client certificates."""

    @classmethod
    def setUpClass(cls):
        cls.pki = p = certs.get_pki()
        client = certs.get_client_pki()
        cls.dir = harness.new_dir('dovecot-rich')
        cls.ca = os.path.join(cls.dir, 'clients-ca-and-crl.pem')  # Dovecot's ssl_ca: CAs then CRLs
        with open(cls.ca, 'w') as out:
            for part in (client.ca_cert, client.crl):
                with open(part) as f:
                    out.write(f.read())
        cls.text = f'''##
## SSL settings (a richer 10-ssl.conf)
##
ssl = required
ssl_cert = <{p.global_.cert}
ssl_key = <{p.global_.key}   # RSA
# ECDSA next to RSA
ssl_alt_cert = <{p.ec_only.cert}
ssl_alt_key = <{p.ec_only.key}
ssl_ca = <{cls.ca}
ssl_verify_client_cert = yes
ssl_min_protocol = TLSv1.2
ssl_cipher_list = ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH
ssl_curve_list = X25519:P-384:\\
  secp256r1
ssl_prefer_server_ciphers = yes
ssl_options = no_ticket
ssl_dh = </usr/share/dovecot/dh.pem
ssl_cert_username_field = commonName
!include_try /etc/dovecot/conf.d/99-local-ssl.conf

local_name imap.example.org {{
  ssl_cert = <{p.exact.cert}
  ssl_key = <{p.exact.key}
}}
local_name "*.example.net" mail.example.com {{
  ssl_cert = <{p.wildcard.cert}
  ssl_key = <{p.wildcard.key}
  ssl_alt_cert =
}}
local_name secret.example.org {{
  ssl_cert = "<{p.encrypted.cert}"
  ssl_key = <{p.encrypted.key}
  ssl_key_password = <{p.encrypted.password_file}
  ssl_alt_cert =
}}
local 127.0.0.2 {{
  ssl_cert = <{p.local2.cert}
  ssl_key = <{p.local2.key}
  ssl_alt_cert = ""
}}
local 10.0.0.0/24 {{
  ssl_cert = <{p.other.cert}
}}
protocol imap {{
  ssl_cert = <{p.listener.cert}
  ssl_key = <{p.listener.key}
}}
protocol pop3 {{
  ssl_min_protocol = TLSv1.3
}}
service imap-login {{
  inet_listener imaps {{
    port = 0
  }}
}}
'''
        cls.source = os.path.join(cls.dir, '10-ssl.conf')
        with open(cls.source, 'w') as f:
            f.write(cls.text)
        cls.rc, cls.out, cls.err = convert(cls.source)

    def test_check_shows_the_expected_certificates_per_name(self):
        self.assertEqual(self.rc, 0, self.err)
        p = self.pki
        self.assertEqual(served(check(self, self.out, self.dir)), {
            'listener imaps (default)': {p.listener.cert, p.ec_only.cert},  # alt_cert inherited from [tls]
            'listener pop3s (default)': {p.global_.cert, p.ec_only.cert},
            'names imap.example.org': {p.exact.cert, p.ec_only.cert},  # inherits ssl_alt_cert, as in Dovecot
            'names *.example.net,mail.example.com': {p.wildcard.cert},
            'names secret.example.org': {p.encrypted.cert},  # its key decrypted with the password file
            'local address 127.0.0.2': {p.local2.cert},
        })

    def test_converted_values(self):
        config = tomllib.loads(self.out)
        tls = config['tls']
        self.assertEqual(tls['min_version'], '1.2')
        self.assertEqual(tls['ciphers'], 'ALL:!kRSA:!3DES:!PSK:@STRENGTH')
        self.assertEqual(tls['groups'], ['X25519', 'P-384', 'P-256'])
        self.assertIs(tls['session_tickets'], False)
        self.assertEqual((tls['client_ca'], tls['client_crl'], tls['verify_client']), (self.ca, self.ca, 'optional'))
        self.assertEqual([n['names'] for n in config['local_name']],
                         [['imap.example.org'], ['*.example.net', 'mail.example.com'], ['secret.example.org']])
        self.assertEqual(config['local_name'][2]['key_password_file'], self.pki.encrypted.password_file)
        self.assertEqual([l['address'] for l in config['local']], ['127.0.0.2'])
        imaps, pop3s = config['listener']
        self.assertEqual(imaps['tls'], {'cert': self.pki.listener.cert, 'key': self.pki.listener.key})
        self.assertEqual(pop3s['tls'], {'min_version': '1.3'})

    def test_settings_without_an_equivalent_are_reported_at_their_lines(self):
        found = warnings(self.err, self.source)
        text = self.text
        for regex, fragment in (
                (r'^ssl = required', 'ssl = required'),
                (r'^ssl_cipher_list', 'dropped !SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!MD5:!RC4:!ADH:!LOW'),
                (r'^ssl_prefer_server_ciphers', 'ssl_prefer_server_ciphers = yes'),
                (r'^ssl_dh', 'ssl_dh:'),
                (r'^ssl_cert_username_field', 'ssl_cert_username_field:'),
                (r'^!include_try', 'not followed'),
                (r'^local_name imap\.example\.org', 'uses the global ssl_alt_cert'),
                (r'^local 10\.0\.0\.0/24', 'is a network'),
        ):
            with self.subTest(setting=regex):
                assert_warned(self, found, line_of(text, regex), fragment)
        assert_warned(self, found, 0, 'service imap-login { } (line')
        self.assertEqual(len(found), 9, self.err)


class EdgeCasesTest(unittest.TestCase):
    def setUp(self):
        self.dir = harness.new_dir('dovecot-edge')
        self.pki = certs.get_pki()

    def write(self, text, name='10-ssl.conf'):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_unconvertible_settings_are_reported_and_the_rest_passes_check(self):
        p = self.pki
        text = f'''ssl = no
ssl_cert = <{p.global_.cert}
ssl_key = <{p.global_.key}
ssl_key_password = hunter2-not-in-any-output
ssl_min_protocol = TLSv1.1
ssl_cipher_list = EDH+AESGCM:ECDHE+AESGCM:DHE-RSA-AES256-GCM-SHA384:!aNULL
ssl_curve_list = X448:P-256
ssl_options = compression no_ticket
ssl_cipher_suites = TLS_AES_256_GCM_SHA384
ssl_frobnicate = yes
mail_location = maildir:~/Maildir
local_name mail?.example.com {{
  ssl_cert = <{p.other.cert}
}}
local_name pop.example.org {{
  ssl_min_protocol = TLSv1.3
  ssl_cert = <{p.mail.cert}
  ssl_key = <{p.mail.key}
}}
local mail.example.com {{
  ssl_cert = <{p.other.cert}
}}
local [::1] {{
  ssl_cert = <{p.local2.cert}
  ssl_key = <{p.local2.key}
  protocol imap {{
    ssl_cert = <{p.other.cert}
  }}
}}
protocol lmtp {{
  ssl_cert = <{p.other.cert}
}}
'''
        source = self.write(text)
        rc, out, err = convert(source)
        self.assertEqual(rc, 0, err)
        self.assertNotIn('hunter2', out + err)
        found = warnings(err, source)
        for regex, fragment in (
                (r'^ssl = no', 'Dovecot had TLS off'),
                (r'^ssl_key_password', 'write it to a root-only file'),
                (r'^ssl_min_protocol', 'using "1.2"'),
                (r'^ssl_cipher_list', 'dropped EDH+AESGCM:DHE-RSA-AES256-GCM-SHA384 (BoringSSL has no such cipher)'),
                (r'^ssl_cipher_list', 'dropped !aNULL'),
                (r'^ssl_curve_list', 'dropped X448'),
                (r'^ssl_options', 'compression: not supported'),
                (r'^ssl_cipher_suites', 'not configurable'),
                (r'^ssl_frobnicate', 'no tlsfront equivalent'),
                (r'^local_name mail\?', 'not converted'),
                (r'^  ssl_min_protocol = TLSv1.3', 'only certificate settings'),
                (r'^local mail\.example\.com', 'not a numeric address'),
                (r'^  protocol imap', 'nested blocks are not converted'),
                (r'^protocol lmtp', 'not converted'),
        ):
            with self.subTest(line=regex):
                assert_warned(self, found, line_of(text, regex), fragment)
        assert_warned(self, found, 0, 'not TLS settings, not converted: mail_location')
        config = tomllib.loads(out)
        self.assertEqual((config['tls']['min_version'], config['tls']['ciphers'], config['tls']['groups']),
                         ('1.2', 'ECDHE+AESGCM', ['P-256']))
        self.assertEqual(served(check(self, out, self.dir)), {
            'listener imaps (default)': {p.global_.cert},
            'listener pop3s (default)': {p.global_.cert},
            'names pop.example.org': {p.mail.cert},
            'local address ::1': {p.local2.cert},
        })

    def test_unbalanced_blocks_and_unreadable_files_exit_1(self):
        for text, place, message in (
                ('ssl_cert = </x.pem\nlocal_name a.example {\n  ssl_cert = </y.pem\n', 2,
                 'block "local_name a.example { }" is not closed'),
                ('ssl_cert = </x.pem\n}\n', 2, '"}" without an open block')):
            with self.subTest(message=message):
                source = self.write(text)
                rc, out, err = convert(source)
                self.assertEqual((rc, out), (1, ''))
                self.assertEqual(err.strip(), f'{PROG}: {source}:{place}: {message}')
        rc, out, err = convert(os.path.join(self.dir, 'missing.conf'))
        self.assertEqual((rc, out), (1, ''))
        self.assertIn('No such file or directory', err)

    def test_reads_standard_input(self):
        rc, out, err = convert('-', input=b'ssl_cert = </etc/ssl/certs/a.pem\nssl_key = </etc/ssl/private/a.key\n')
        self.assertEqual(rc, 0, err)
        self.assertEqual(tomllib.loads(out)['tls'], {'cert': '/etc/ssl/certs/a.pem', 'key': '/etc/ssl/private/a.key'})
        self.assertEqual(err, '')

    def test_every_cipher_word_kept_is_accepted_by_boringssl(self):
        words = load_converter().BORINGSSL_CIPHER_WORDS
        self.assertGreater(len(words), 40)
        p = self.pki
        # "+WORD" moves what WORD matches to the end: the list never ends up empty
        lists = {'ALL:' + ':'.join('+' + w for w in sorted(words)): True,
                 'DEFAULT:!kRSA': True,
                 'ALL:-aNULL': False}  # a word the converter drops: BoringSSL refuses it
        for ciphers, accepted in lists.items():
            with self.subTest(ciphers=ciphers[:40]):
                path = self.write(harness.make_config(
                    tls={'cert': p.global_.cert, 'key': p.global_.key, 'ciphers': ciphers},
                    listeners=[{'name': 'imaps', 'listen': '127.0.0.1:10993', 'protocol': 'imap',
                                'backend': '127.0.0.1:10143'}]), 'ciphers.toml')
                r = run([harness.TLSFRONT, '--check', '-c', path], timeout=20 * harness.time_scale())
                self.assertEqual(r.returncode == 0, accepted, r.stderr.decode())

    @unittest.skipUnless(os.environ.get('TLSFRONT_BUILD_DIR'), 'not run by meson test (no TLSFRONT_BUILD_DIR)')
    def test_meson_installs_the_script_into_bindir(self):
        r = run(['meson', 'introspect', '--installed', os.environ['TLSFRONT_BUILD_DIR']], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        installed = json.loads(r.stdout)
        self.assertTrue(installed.get(SCRIPT, '').endswith('/bin/tlsfront-import-dovecot'), installed)


class MigrationGuideTest(unittest.TestCase):
    """docs/migrating.md: its converter example is what the converter prints, and every tlsfront
    snippet passes --check."""

    @classmethod
    def setUpClass(cls):
        with open(GUIDE) as f:
            cls.blocks = fenced_blocks(f.read())

    def test_converter_example_is_what_the_converter_prints(self):
        marked = {marker: text for marker, _, text in self.blocks if marker}
        self.assertEqual(set(marked), {'10-ssl.conf', 'stdout', 'stderr'})
        directory = harness.new_dir('migrating-example')
        with open(os.path.join(directory, '10-ssl.conf'), 'w') as f:
            f.write(marked['10-ssl.conf'] + '\n')
        rc, out, err = convert('10-ssl.conf', cwd=directory)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, marked['stdout'] + '\n')
        self.assertEqual(err, marked['stderr'] + '\n')

    def test_every_tlsfront_snippet_passes_check(self):
        snippets = [text for _, language, text in self.blocks if language == 'toml']
        self.assertGreaterEqual(len(snippets), 5)  # the converter's output, stunnel, hitch, HAProxy, nginx
        for number, snippet in enumerate(snippets, 1):
            with self.subTest(snippet=number, first_line=snippet.splitlines()[0]):
                directory = harness.new_dir(f'migrating-{number}')
                summary = check(self, with_generated_files(snippet, directory), directory)
                for name in re.findall(r'(?m)^name = "([^"]+)"', snippet):
                    self.assertRegex(summary, rf'(?m)^listener {re.escape(name)} ')
