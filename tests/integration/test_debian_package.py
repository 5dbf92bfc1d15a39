"""The Debian packages as an operator uses them: scripts/build-deb.sh builds tlsfront and
tlsfront-tools (tlsfront-bench, tlsfront-import-dovecot) from this checkout (dpkg-buildpackage -b -us -uc) and runs lintian (0 errors);
`dpkg -i` installs them on this machine; the installed /usr/sbin/tlsfront prints its version and
checks the installed /etc/tlsfront/tlsfront.toml (refused while its certificate is missing,
accepted once a generated one is in place); the system user, the conffile, the systemd units and
the man pages are there; `dpkg -r` keeps the conffile, `dpkg -P` removes it and the user.

It changes the machine (packages, a system user, /etc/tlsfront), so it runs only as root, only
when no tlsfront package is installed already, and only once per suite run: with the normal
build (the package compiles its own binary, so the ASan run adds nothing)."""
import os
import re
import shutil
import sys
import unittest

import certs
import debian_package
import harness
from debian_package import OUT, PACKAGES, run as sh

CONFIG = '/etc/tlsfront/tlsfront.toml'
TLS_DIR = '/etc/tlsfront/tls'


def installed(package):
    r = sh('dpkg-query', '-W', '-f=${db:Status-Status}', package)
    return r.returncode == 0 and r.stdout.decode().strip() not in ('', 'not-installed', 'config-files')


class DebianPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        debian_package.skip_unless_buildable()
        if not shutil.which('lintian'):
            raise unittest.SkipTest('lintian not installed (scripts/install-deps.sh)')
        if any(installed(p) for p in PACKAGES):
            raise unittest.SkipTest('a tlsfront package is installed already: not touching it')
        cls.debs = debian_package.build()
        harness.register_cleanup(cls.purge)

    @staticmethod
    def purge():
        shutil.rmtree(TLS_DIR, ignore_errors=True)
        sh('dpkg', '-P', *PACKAGES)

    def test_lintian_has_no_errors(self):
        with open(os.path.join(OUT, 'lintian.txt')) as f:
            tags = [line for line in f if re.match(r'^[EW]: ', line)]
        errors = [t for t in tags if t.startswith('E: ')]
        self.assertEqual(errors, [], ''.join(tags))
        print(f'FIGURE: lintian {len(errors)} errors, warnings: {"".join(t for t in tags if t.startswith("W: "))}',
              file=sys.stderr)

    def test_install_check_remove_purge(self):
        for p, deb in self.debs.items():
            self.assertTrue(os.path.exists(deb), f'{deb} missing; build output:\n{debian_package.build_output()[-2000:]}')
        r = sh('dpkg', '-i', *self.debs.values(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors='replace'))
        try:
            self.assert_installed()
        finally:
            shutil.rmtree(TLS_DIR, ignore_errors=True)
        r = sh('dpkg', '-r', *PACKAGES)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors='replace'))
        self.assertFalse(os.path.exists('/usr/sbin/tlsfront'))
        self.assertTrue(os.path.exists(CONFIG), 'dpkg -r keeps the conffile')
        r = sh('dpkg', '-P', *PACKAGES)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors='replace'))
        self.assertFalse(os.path.exists('/etc/tlsfront'), 'purge removes /etc/tlsfront')
        self.assertNotEqual(sh('getent', 'passwd', 'tlsfront').returncode, 0, 'purge removes the system user')
        self.assertFalse(any(installed(p) for p in PACKAGES))

    def assert_installed(self):
        r = sh('/usr/sbin/tlsfront', '--version')
        self.assertEqual(r.returncode, 0)
        self.assertIn(f'tlsfront {debian_package.project_version()}', r.stdout.decode())
        r = sh('/usr/bin/tlsfront-bench', '--version')
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(sh('getent', 'passwd', 'tlsfront').returncode, 0, 'postinst creates the tlsfront user')
        with open('/var/lib/dpkg/info/tlsfront.conffiles') as f:
            self.assertIn(CONFIG, f.read().split())
        for unit in ('tlsfront.service', 'tlsfront.socket'):
            self.assertTrue(os.path.exists(f'/lib/systemd/system/{unit}'), unit)
        with open('/lib/systemd/system/tlsfront.service') as f:
            self.assertIn('ExecStart=/usr/sbin/tlsfront -c /etc/tlsfront/tlsfront.toml', f.read())
        for page in ('man8/tlsfront.8.gz', 'man5/tlsfront.toml.5.gz', 'man1/tlsfront-bench.1.gz',
                     'man1/tlsfront-import-dovecot.1.gz'):
            self.assertTrue(os.path.exists(f'/usr/share/man/{page}'), page)
        r = sh('/usr/bin/tlsfront-import-dovecot', '/usr/share/dovecot/conf.d/10-ssl.conf')
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn(b'[tls]', r.stdout)
        # The installed config names a certificate the operator provides: refused until it exists.
        r = sh('/usr/sbin/tlsfront', '--check', '-c', CONFIG)
        out = r.stdout.decode(errors='replace')
        self.assertEqual(r.returncode, 1, out)
        self.assertIn(f'{CONFIG}:', out)
        self.assertIn(f'{TLS_DIR}/cert.pem', out)
        pki = certs.get_pki()
        os.makedirs(TLS_DIR, mode=0o700, exist_ok=True)
        shutil.copy(pki.mail.cert, f'{TLS_DIR}/cert.pem')
        shutil.copy(pki.mail.key, f'{TLS_DIR}/key.pem')
        os.chmod(f'{TLS_DIR}/key.pem', 0o600)
        r = sh('/usr/sbin/tlsfront', '--check', '-c', CONFIG)
        out = r.stdout.decode(errors='replace')
        self.assertEqual(r.returncode, 0, out)
        for listener in ('imaps', 'pop3s', 'submissions'):
            self.assertRegex(out, rf'(?m)^listener {listener} ')
        self.assertIn('CN=mail.example.test', out)


if __name__ == '__main__':
    unittest.main()
