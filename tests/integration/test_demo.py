"""scripts/demo.sh --self-test (the README's "main job" command) with a non-default directory and
ports; TLSFRONT_BIN skips its install and build steps."""
import os
import socket
import unittest

import dovecot
import harness
from harness import run


class DemoScriptTest(unittest.TestCase):
    def test_demo_self_test(self):
        why = dovecot.available()
        if why:
            self.skipTest(why)
        demo_dir = os.path.join(harness.new_dir('demo'), 'demo')
        ports = {k: harness.free_port() for k in ('IMAPS', 'POP3S', 'IMAP', 'POP3')}
        env = dict(os.environ, TLSFRONT_BIN=harness.TLSFRONT, TLSFRONT_DEMO_DIR=demo_dir,
                   **{f'TLSFRONT_DEMO_{k}_PORT': str(v) for k, v in ports.items()})
        script = os.path.join(harness.PROJECT_ROOT, 'scripts', 'demo.sh')
        r = run(['bash', script, '--self-test'], env=env, timeout=120 * harness.time_scale())
        out = r.stdout.decode(errors='replace') + r.stderr.decode(errors='replace')
        self.assertEqual(r.returncode, 0, out[-4000:])
        self.assertIn('self-test passed', out)
        self.assertIn(f'openssl s_client -connect 127.0.0.1:{ports["IMAPS"]} -servername mail.example.test', out)
        self.assertIn(f'imaps://mail.example.test:{ports["IMAPS"]}/', out)
        self.assertIn(os.path.join(demo_dir, 'tls', 'ca.pem'), out)
        # it stopped what it started
        for p in ports.values():
            with self.assertRaises(OSError, msg=f'port {p} still open after the demo exited'):
                socket.create_connection(('127.0.0.1', p), timeout=2).close()
        with open(os.path.join(demo_dir, 'tlsfront.log')) as f:
            log = f.read()
        self.assertIn('event=stopped', log)
        closes = [harness.parse_log_line(l) for l in log.splitlines() if 'event=close' in l]
        self.assertGreaterEqual(len(closes), 3, log)
        self.assertTrue(all(c.get('sni') == 'mail.example.test' for c in closes), log)


if __name__ == '__main__':
    unittest.main()
