"""The container image (packaging/container/Containerfile), built by scripts/build-image.sh
without a registry: a Debian 12 minbase root file system from mmdebstrap with the .deb of
scripts/build-deb.sh installed, imported by podman with the Containerfile's USER, ENTRYPOINT, CMD
and EXPOSE. The test checks the image's config, then runs tlsfront from that root file system as
its non-root user with the config and certificate from a mounted directory: in podman when a
container runtime works here, otherwise (this machine's crun cannot set up cgroups or raise
rlimits) under unshare (own mount and PID namespaces) + chroot. From outside it: a TLS handshake
and an echo through it, its log on stderr, /healthz on the admin port, and SIGTERM ends it with 0."""
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import unittest

import backends
import certs
import debian_package
import harness
import tlsclient
from debian_package import ROOT, run

IMAGE_DIR = os.path.join(ROOT, 'build-image')


def image_uid(rootfs):
    """uid/gid of the image's tlsfront user, from its /etc/passwd."""
    with open(os.path.join(rootfs, 'etc', 'passwd')) as f:
        for line in f:
            fields = line.split(':')
            if fields[0] == 'tlsfront':
                return int(fields[2]), int(fields[3])
    raise AssertionError('no tlsfront user in the image')


class ContainerImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        debian_package.skip_unless_buildable()
        if not shutil.which('mmdebstrap'):
            raise unittest.SkipTest('mmdebstrap not installed (scripts/install-deps.sh)')
        debian_package.build()
        cls.podman = shutil.which('podman')
        args = [] if cls.podman else ['--no-import']
        r = run(os.path.join(ROOT, 'scripts', 'build-image.sh'), *args, timeout=1200)
        cls.build_output = r.stdout.decode(errors='replace')
        if r.returncode != 0:
            raise AssertionError(f'build-image.sh failed (rc {r.returncode}):\n{cls.build_output[-4000:]}')
        cls.image = f'localhost/tlsfront:{debian_package.project_version()}'
        cls.rootfs = tempfile.mkdtemp(prefix='tlsfront-rootfs-', dir=harness.session_dir())
        with tarfile.open(os.path.join(IMAGE_DIR, 'rootfs.tar')) as t:
            t.extractall(cls.rootfs, numeric_owner=True)
        harness.register_cleanup(lambda: shutil.rmtree(cls.rootfs, ignore_errors=True))

    def test_image_config(self):
        if not self.podman:
            self.skipTest('podman not installed: only the root file system was built')
        r = run('podman', 'image', 'inspect', '--format',
                '{{.Config.User}}|{{.Config.Entrypoint}}|{{.Config.Cmd}}|{{.Config.ExposedPorts}}|{{.Size}}', self.image)
        self.assertEqual(r.returncode, 0, r.stdout)
        user, entrypoint, cmd, ports, size = r.stdout.decode().strip().split('|')
        self.assertEqual(user, 'tlsfront')
        self.assertEqual(entrypoint, '[/usr/sbin/tlsfront]')
        self.assertEqual(cmd, '[-c /etc/tlsfront/tlsfront.toml]')
        for port in ('993/tcp', '995/tcp', '465/tcp', '9100/tcp'):
            self.assertIn(port, ports)
        self.assertTrue(os.path.getsize(os.path.join(IMAGE_DIR, 'tlsfront-oci.tar')) > 10 << 20)
        print(f'FIGURE: image {self.image} size {int(size)} bytes '
              f'({int(size) / 1e6:.1f} MB), OCI archive {os.path.getsize(os.path.join(IMAGE_DIR, "tlsfront-oci.tar"))} '
              f'bytes', file=sys.stderr)

    def test_root_filesystem_serves_tls_from_outside(self):
        uid, gid = image_uid(self.rootfs)
        self.assertNotEqual(uid, 0)
        # The mounted volume: a config for the container (no [server] user: it runs unprivileged)
        # and a certificate whose key only the container's user can read.
        volume = harness.new_dir('container-volume')
        os.chmod(volume, 0o755)
        pki = certs.get_pki()
        shutil.copy(pki.mail.cert, os.path.join(volume, 'cert.pem'))
        shutil.copy(pki.mail.key, os.path.join(volume, 'key.pem'))
        os.chown(os.path.join(volume, 'key.pem'), uid, gid)
        os.chmod(os.path.join(volume, 'key.pem'), 0o400)
        backend = backends.GreetingEchoBackend()
        self.addCleanup(backend.close)
        port, admin = harness.free_port(), harness.free_port()
        with open(os.path.join(volume, 'tlsfront.toml'), 'w') as f:
            f.write(harness.make_config(
                server={'admin': f'127.0.0.1:{admin}'},
                tls={'cert': '/etc/tlsfront/cert.pem', 'key': '/etc/tlsfront/key.pem'},
                listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{port}', 'protocol': 'imap',
                            'backend': backend.address}]))
        proc, how = self.start_in_container(volume, uid, gid)
        try:
            self.assertTrue(harness.wait_port_listening('127.0.0.1', port, timeout=15),
                            f'not listening ({how}); stderr: {self.stderr_of(proc)}')
            s = tlsclient.tls_connect(port, servername='mail.example.test')
            try:
                self.assertEqual(s.version(), 'TLSv1.3')
                self.assertEqual(tlsclient.read_line(s), b'* OK ready\r\n')
                self.assertEqual(tlsclient.echo_roundtrip(s, b'a NOOP\r\n'), b'a NOOP\r\n')
            finally:
                s.close()
            status, _, body = harness.http_get(admin, '/healthz')
            self.assertEqual(status, 200, body)
            self.terminate(proc, how)
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        log = proc.stderr.read().decode(errors='replace')
        self.assertIn('event=ready', log)
        self.assertRegex(log, r'event=close .*listener=imaps .*sni=mail\.example\.test tls=TLSv1\.3 .*bytes_in=8 ')
        self.assertIn('event=stopped', log)
        print(f'FIGURE: container ran via {how}, as uid {uid}; TLS 1.3 handshake + echo from outside, '
              f'/healthz 200, SIGTERM exit 0', file=sys.stderr)

    def start_in_container(self, volume, uid, gid):
        """tlsfront from the image with `volume` at /etc/tlsfront; (Popen, how)."""
        if self.podman:
            cmd = ['podman', 'run', '--rm', '--network', 'host', '-v', f'{volume}:/etc/tlsfront:ro', self.image]
            probe = run('podman', 'run', '--rm', '--network', 'host', '--entrypoint', '/usr/sbin/tlsfront',
                        self.image, '--version', timeout=60)
            if probe.returncode == 0:
                return self.popen(cmd), 'podman'
        # unshare + chroot over the same root file system: own mount and PID namespaces, the volume
        # bind-mounted read-only, /proc of the new PID namespace, then the image's user.
        script = (f'mount --bind {volume} {self.rootfs}/etc/tlsfront && mount -o remount,bind,ro {self.rootfs}/etc/tlsfront'
                  f' && mount -t proc proc {self.rootfs}/proc && mount --rbind /dev {self.rootfs}/dev'
                  f' && exec chroot --userspec={uid}:{gid} {self.rootfs} /usr/sbin/tlsfront -c /etc/tlsfront/tlsfront.toml')
        return self.popen(['unshare', '--mount', '--pid', '--fork', '--kill-child', 'sh', '-c', script]), 'unshare+chroot'

    @staticmethod
    def terminate(proc, how):
        """SIGTERM to tlsfront: podman forwards it; unshare does not, so it goes to unshare's child
        (tlsfront itself, after sh and chroot exec'd it)."""
        if how == 'podman':
            return proc.send_signal(signal.SIGTERM)
        with open(f'/proc/{proc.pid}/task/{proc.pid}/children') as f:
            for child in f.read().split():
                os.kill(int(child), signal.SIGTERM)

    @staticmethod
    def popen(cmd):
        return harness.register_process(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                         stderr=subprocess.PIPE))

    @staticmethod
    def stderr_of(proc):
        if proc.poll() is None:
            return '(still running)'
        return proc.stderr.read().decode(errors='replace')[-3000:]


if __name__ == '__main__':
    unittest.main()
