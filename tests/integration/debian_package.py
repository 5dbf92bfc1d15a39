"""The Debian packages of this checkout, built once per suite run by scripts/build-deb.sh (into
build-deb/) for test_debian_package.py and test_container_image.py. Building changes nothing on
the machine; installing (their business) does, so both run only as root and with the normal build
(the package compiles its own binary: the ASan run would build the same thing again)."""
import os
import re
import shutil
import subprocess
import unittest

import harness

ROOT = harness.PROJECT_ROOT
OUT = os.path.join(ROOT, 'build-deb')
PACKAGES = ('tlsfront', 'tlsfront-tools')
_built = {}


def run(*cmd, timeout=120, env=None):
    """Runs cmd with stdout and stderr together; returns the CompletedProcess."""
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, env=env)


def project_version():
    with open(os.path.join(ROOT, 'meson.build')) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def skip_unless_buildable():
    if harness.is_sanitized_binary(harness.TLSFRONT):
        raise unittest.SkipTest('the package builds its own binary: run once, with the normal build')
    if not harness.is_root():
        raise unittest.SkipTest('installing packages needs root')
    for tool in ('dpkg-buildpackage', 'dh'):
        if not shutil.which(tool):
            raise unittest.SkipTest(f'{tool} not installed (scripts/install-deps.sh)')


def build():
    """{package: .deb path}, building them on first use; raises AssertionError with the build's
    output when it fails."""
    if not _built:
        env = dict(os.environ, DEB_BUILD_OPTIONS='nocheck')  # the unit tests run in the suite itself
        r = run(os.path.join(ROOT, 'scripts', 'build-deb.sh'), timeout=1500, env=env)
        output = r.stdout.decode(errors='replace')
        if r.returncode != 0:
            raise AssertionError(f'build-deb.sh failed (rc {r.returncode}):\n{output[-5000:]}')
        _built.update({p: os.path.join(OUT, f'{p}_{project_version()}-1_amd64.deb') for p in PACKAGES})
        _built['output'] = output
    return {p: _built[p] for p in PACKAGES}


def build_output():
    return _built.get('output', '')
