"""packaging/kubernetes/tlsfront-sidecar.yaml against the config it mounts: the ConfigMap's
tlsfront.toml passes `tlsfront --check` once the Secrets' files exist where the pod mounts them;
every path the config names (cert, key, ticket_key_file) and the -c argument is a file that one of
the tlsfront container's volume mounts provides (ConfigMap or Secret item); the config's listen
and admin ports are container ports, the probes use the admin port and /healthz, the backend is
the legacy container's port on 127.0.0.1; terminationGracePeriodSeconds covers the preStop sleep
plus shutdown_grace; the PodDisruptionBudget and the Service select the Deployment's pods and the
Service targets the imaps port; runAsUser/fsGroup are the image's tlsfront user (when
scripts/build-image.sh has made build-image/rootfs.tar)."""
import base64
import json
import os
import posixpath
import re
import subprocess
import tarfile
import unittest

import certs
import harness

MANIFEST = os.path.join(harness.PROJECT_ROOT, 'packaging', 'kubernetes', 'tlsfront-sidecar.yaml')
ROOTFS_TAR = os.path.join(harness.PROJECT_ROOT, 'build-image', 'rootfs.tar')


def load_manifest():
    """The YAML documents, with PyYAML (Debian's python3-yaml when this Python lacks it)."""
    with open(MANIFEST) as f:
        text = f.read()
    try:
        import yaml
        return [d for d in yaml.safe_load_all(text) if d]
    except ImportError:
        r = subprocess.run(['/usr/bin/python3', '-c', 'import json, sys, yaml; '
                            'print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))'],
                           input=text.encode(), stdout=subprocess.PIPE, check=True)
        return json.loads(r.stdout)


def duration_seconds(text):
    m = re.fullmatch(r'(\d+)(ms|s|m|h)', text)
    return int(m.group(1)) * {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600}[m.group(2)]


class KubernetesManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        docs = load_manifest()
        cls.kinds = {}
        for d in docs:
            cls.kinds.setdefault(d['kind'], []).append(d)
        cls.config_text = cls.kinds['ConfigMap'][0]['data']['tlsfront.toml']
        cls.deployment = cls.kinds['Deployment'][0]
        cls.pod = cls.deployment['spec']['template']['spec']
        cls.containers = {c['name']: c for c in cls.pod['containers']}
        cls.tlsfront = cls.containers['tlsfront']
        cls.volumes = {v['name']: v for v in cls.pod['volumes']}

    def config_value(self, key):
        m = re.search(rf'(?m)^{key}\s*=\s*"([^"]*)"', self.config_text)
        self.assertIsNotNone(m, f'{key} not in the ConfigMap config')
        return m.group(1)

    def provided_files(self):
        """{absolute path in the container: (volume source kind, name, key)} of every mounted item."""
        files = {}
        for mount in self.tlsfront['volumeMounts']:
            volume = self.volumes[mount['name']]
            kind = 'configMap' if 'configMap' in volume else 'secret'
            source = volume[kind]
            name = source.get('name') or source.get('secretName')
            for item in source['items']:
                files[posixpath.join(mount['mountPath'], item['path'])] = (kind, name, item['key'])
        return files

    def test_every_path_is_mounted(self):
        files = self.provided_files()
        args = self.tlsfront['args']
        config_path = args[args.index('-c') + 1]
        self.assertEqual(files.get(config_path), ('configMap', 'tlsfront-config', 'tlsfront.toml'))
        self.assertEqual(files.get(self.config_value('cert')), ('secret', 'tlsfront-cert', 'tls.crt'))
        self.assertEqual(files.get(self.config_value('key')), ('secret', 'tlsfront-cert', 'tls.key'))
        self.assertEqual(files.get(self.config_value('ticket_key_file')),
                         ('secret', 'tlsfront-ticket-keys', 'ticket.keys'))

    def test_ports_and_probes(self):
        ports = {p['name']: p['containerPort'] for p in self.tlsfront['ports']}
        listen_port = int(self.config_value('listen').rpartition(':')[2])
        admin_port = int(self.config_value('admin').rpartition(':')[2])
        self.assertEqual(ports['imaps'], listen_port)
        self.assertEqual(ports['admin'], admin_port)
        for probe in ('readinessProbe', 'livenessProbe'):
            get = self.tlsfront[probe]['httpGet']
            self.assertEqual(get['path'], '/healthz')
            self.assertIn(get['port'], ('admin', admin_port))
        host, _, port = self.config_value('backend').rpartition(':')
        self.assertEqual(host, '127.0.0.1')
        legacy_ports = [p['containerPort'] for p in self.containers['legacy-imap']['ports']]
        self.assertIn(int(port), legacy_ports)
        service = self.kinds['Service'][0]['spec']
        self.assertEqual([p['targetPort'] for p in service['ports']], ['imaps'])

    def test_drain_fits_the_grace_period(self):
        pre_stop = self.tlsfront['lifecycle']['preStop']['exec']['command']
        self.assertEqual(pre_stop[0], 'sleep')
        grace = duration_seconds(self.config_value('shutdown_grace'))
        self.assertGreaterEqual(self.pod['terminationGracePeriodSeconds'], int(pre_stop[1]) + grace + 5)

    def test_selectors_match(self):
        labels = self.deployment['spec']['template']['metadata']['labels']
        for selector in (self.deployment['spec']['selector']['matchLabels'],
                         self.kinds['PodDisruptionBudget'][0]['spec']['selector']['matchLabels'],
                         self.kinds['Service'][0]['spec']['selector']):
            self.assertTrue(selector.items() <= labels.items(), selector)

    def test_user_is_the_images(self):
        if not os.path.exists(ROOTFS_TAR):
            self.skipTest('no build-image/rootfs.tar (scripts/build-image.sh)')
        with tarfile.open(ROOTFS_TAR) as t:
            passwd = t.extractfile('./etc/passwd').read().decode()
        uid, gid = re.search(r'(?m)^tlsfront:x:(\d+):(\d+):', passwd).groups()
        security = self.tlsfront['securityContext']
        self.assertEqual((security['runAsUser'], security['runAsGroup']), (int(uid), int(gid)))
        self.assertEqual(self.pod['securityContext']['fsGroup'], int(gid))

    def test_config_passes_check_with_the_mounted_files(self):
        root = harness.new_dir('k8s-mounts')
        pki = certs.get_pki()
        contents = {'tls.crt': open(pki.mail.cert, 'rb').read(), 'tls.key': open(pki.mail.key, 'rb').read(),
                    'ticket.keys': base64.b64encode(os.urandom(80)) + b'\n',
                    'tlsfront.toml': self.config_text.replace('/etc/tlsfront/', f'{root}/etc/tlsfront/').encode()}
        for path, (_, _, key) in self.provided_files().items():
            local = root + path
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, 'wb') as f:
                f.write(contents[key])
            os.chmod(local, 0o440)
        args = self.tlsfront['args']
        r = harness.run([harness.TLSFRONT, '--check', '-c', root + args[args.index('-c') + 1]], timeout=30)
        out = r.stdout.decode(errors='replace') + r.stderr.decode(errors='replace')
        self.assertEqual(r.returncode, 0, out)
        self.assertIn('listener imaps protocol=imap listen=0.0.0.0:993 backend=127.0.0.1:143', out)


if __name__ == '__main__':
    unittest.main()
