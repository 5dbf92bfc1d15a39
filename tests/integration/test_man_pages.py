"""The man pages (docs/man/*.scd built by scdoc): `mandoc -Tlint` reports nothing on them, not
even STYLE messages; they render with their sections; tlsfront(8) and tlsfront-import-dovecot(1)
list every option their command's --help prints, tlsfront(8) the exit statuses the binary gives;
the example in tlsfront.toml(5) passes `--check`; meson installs each page into its mandir section.

The pages come from TLSFRONT_MAN_PAGES (colon-separated, set by `meson test` to the built ones,
with TLSFRONT_BUILD_DIR for the install check); without it they are built here from the sources
with docs/man/scdoc_to_man.py, as meson does. Which keys tlsfront.toml(5) must document is the
unit test config_keys_documented_test.cpp (it reads the loader's key tables).
"""
import glob
import json
import os
import re
import shutil
import subprocess
import unittest

import certs
import harness
from harness import run

MAN_SOURCES = os.path.join(harness.PROJECT_ROOT, 'docs', 'man')


def project_version():
    with open(os.path.join(harness.PROJECT_ROOT, 'meson.build')) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def built_pages():
    """{file name: path} of the man pages: the ones meson built, or built now from the sources."""
    listed = [p for p in os.environ.get('TLSFRONT_MAN_PAGES', '').split(':') if p]
    if listed:
        return {os.path.basename(p): p for p in listed}
    out = harness.new_dir('man')
    pages = {}
    for source in sorted(glob.glob(os.path.join(MAN_SOURCES, '*.scd'))):
        name = os.path.basename(source)[:-len('.scd')]
        target = os.path.join(out, name)
        r = run(['python3', os.path.join(MAN_SOURCES, 'scdoc_to_man.py'), 'scdoc', source, target,
                 project_version()])
        if r.returncode != 0:
            raise AssertionError(f'building {name} failed: {r.stderr.decode(errors="replace")}')
        pages[name] = target
    return pages


def rendered(path):
    """The page as text (mandoc -Tutf8, formatting removed)."""
    r = run(['mandoc', '-Tutf8', '-Owidth=78', path])
    if r.returncode != 0:
        raise AssertionError(f'mandoc -Tutf8 {path}: {r.stderr.decode(errors="replace")}')
    return re.sub(r'.\x08', '', r.stdout.decode())


def sections(text):
    """{SECTION HEADING: its text} of a rendered page (headings start in column 0)."""
    found = {}
    current = None
    for line in text.splitlines()[1:-1]:  # without the header and footer lines
        if line and not line[0].isspace():
            current = line.strip()
            found[current] = ''
        elif current:
            found[current] += line + '\n'
    return found


@unittest.skipIf(shutil.which('mandoc') is None or shutil.which('scdoc') is None,
                 'mandoc or scdoc missing (scripts/install-deps.sh installs both)')
class ManPagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pages = built_pages()

    def page(self, name):
        self.assertIn(name, self.pages, f'no {name} among the man pages {sorted(self.pages)}')
        return self.pages[name]

    def test_pages_built(self):
        for name in ('tlsfront.8', 'tlsfront.toml.5', 'tlsfront-import-dovecot.1'):
            with self.subTest(page=name):
                self.assertGreater(os.path.getsize(self.page(name)), 2000)

    def test_mandoc_lint_reports_nothing(self):
        for name, path in sorted(self.pages.items()):
            with self.subTest(page=name):
                r = run(['mandoc', '-Tlint', '-Wall', path])
                messages = (r.stdout + r.stderr).decode(errors='replace')
                self.assertEqual(messages, '', f'mandoc -Tlint {name}:\n{messages}')
                self.assertEqual(r.returncode, 0)

    def test_pages_have_their_sections(self):
        expected = {
            'tlsfront.8': ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'SIGNALS', 'EXIT STATUS',
                           'ENVIRONMENT', 'FILES', 'SEE ALSO'],
            'tlsfront.toml.5': ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'CERTIFICATE SELECTION', 'KEYS',
                                'DOVECOT EQUIVALENTS', 'EXAMPLE', 'SEE ALSO'],
            'tlsfront-import-dovecot.1': ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS',
                                          'EXAMPLES', 'SEE ALSO'],
        }
        for name, wanted in expected.items():
            with self.subTest(page=name):
                text = rendered(self.page(name))
                self.assertIn(f'{name.rsplit(".", 1)[0].upper()}({name.rsplit(".", 1)[1]})', text.splitlines()[0])
                self.assertIn(f'tlsfront {project_version()}', text.splitlines()[-1])
                found = sections(text)
                self.assertEqual([s for s in wanted if s not in found], [], f'sections: {list(found)}')
                self.assertTrue(found['NAME'].strip().startswith(name.rsplit('.', 1)[0] + ' - '))

    def assert_options_documented(self, page, help_command, at_least):
        """Every option the command's --help prints is a term of the page's OPTIONS section."""
        r = run(help_command, timeout=10 * harness.time_scale())
        self.assertEqual(r.returncode, 0, r.stderr)
        usage = r.stdout.decode()
        program = os.path.basename(help_command[-2])  # the command before --help
        options = set()
        for line in usage.splitlines():  # usage and option lines, up to their description
            synopsis = re.split(r'(?<=\S) {2,}', line.strip(), maxsplit=1)[0]
            if synopsis.startswith(('usage:', '-', program)):
                options |= set(re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', synopsis))
        self.assertTrue(at_least <= options, usage)
        documented = sections(rendered(self.page(page)))['OPTIONS']
        for option in sorted(options):
            with self.subTest(page=page, option=option):
                self.assertRegex(documented, rf'(?m)^ {{7}}(?! )(?:.*[^\w-])?{re.escape(option)}(?![\w-])')

    def test_tlsfront_8_lists_every_option_of_help(self):
        self.assert_options_documented('tlsfront.8', [harness.TLSFRONT, '--help'], {'-c', '--check', '--version'})

    def test_tlsfront_import_dovecot_1_lists_every_option_of_help(self):
        script = os.path.join(harness.PROJECT_ROOT, 'scripts', 'tlsfront-import-dovecot')
        self.assert_options_documented('tlsfront-import-dovecot.1', ['python3', script, '--help'],
                                       {'--imap-backend', '--pop3-backend', '--help'})

    def test_tlsfront_8_lists_the_exit_statuses_the_binary_gives(self):
        directory = harness.new_dir('man-exit')
        missing_config = os.path.join(directory, 'missing.toml')
        cases = {  # what is run -> the status it must give
            ('--version',): 0,
            ('--help',): 0,
            ('--check', '-c', missing_config): 1,
            ('--no-such-option',): 2,
            (): 2,
        }
        statuses = sections(rendered(self.page('tlsfront.8')))['EXIT STATUS']
        listed = set(re.findall(r'(?m)^ {7}(\d+)\s*$', statuses))
        for args, status in cases.items():
            with self.subTest(args=args):
                r = run([harness.TLSFRONT, *args], timeout=10 * harness.time_scale())
                self.assertEqual(r.returncode, status, r.stderr)
                self.assertIn(str(status), listed, statuses)
        self.assertEqual(listed, {str(s) for s in cases.values()})

    def test_tlsfront_toml_5_example_passes_check(self):
        """The EXAMPLE of tlsfront.toml(5) with its certificate paths pointed at generated ones."""
        with open(os.path.join(MAN_SOURCES, 'tlsfront.toml.5.scd')) as f:
            source = f.read()
        example = re.search(r'\n# EXAMPLE\n.*?\n```\n(.*?)\n```\n', source, re.S).group(1)
        self.assertIn('[[listener]]', example)
        pki = certs.get_pki()
        replacements = {
            '/etc/ssl/certs/mail.example.org.pem': pki.global_.cert,
            '/etc/ssl/private/mail.example.org.key': pki.global_.key,
            '/etc/ssl/certs/imap.example.net.pem': pki.exact.cert,
            '/etc/ssl/private/imap.example.net.key': pki.exact.key,
        }
        paths = set(re.findall(r'"(/etc/[^"]+)"', example))
        self.assertEqual(paths, set(replacements), 'the example names other files: update this test')
        for old, new in replacements.items():
            example = example.replace(f'"{old}"', f'"{new}"')
        path = os.path.join(harness.new_dir('man-example'), 'example.toml')
        with open(path, 'w') as f:
            f.write(example)
        r = run([harness.TLSFRONT, '--check', '-c', path], timeout=20 * harness.time_scale())
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertRegex(out, r'(?m)^listener imaps protocol=imap listen=0\.0\.0\.0:993,\[::\]:993 '
                              r'backend=127\.0\.0\.1:143 proxy_protocol=v2 ')
        self.assertRegex(out, r'(?m)^listener pop3s protocol=pop3 listen=0\.0\.0\.0:995 backend=127\.0\.0\.1:110 ')
        self.assertRegex(out, rf'certificate {re.escape(pki.exact.cert)} \(.*CN=imap\.example\.org.*\) '
                              r'serves names imap\.example\.net')

    @unittest.skipUnless(os.environ.get('TLSFRONT_BUILD_DIR'), 'not run by meson test (no TLSFRONT_BUILD_DIR)')
    def test_meson_installs_each_page_into_its_section(self):
        build = os.environ['TLSFRONT_BUILD_DIR']
        r = run(['meson', 'introspect', '--installed', build], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        installed = json.loads(r.stdout)
        for name, path in sorted(self.pages.items()):
            with self.subTest(page=name):
                section = name.rsplit('.', 1)[1]
                target = installed.get(os.path.realpath(path)) or installed.get(path)
                self.assertIsNotNone(target, f'{path} is not installed: {installed}')
                self.assertTrue(target.endswith(f'/share/man/man{section}/{name}'), target)
