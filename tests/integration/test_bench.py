"""tlsfront-bench as a load tool for mail servers: the imap scenario through tlsfront to a real
Dovecot (latency per IMAP step, closed loop and --rate), --rate for handshake and pingpong against
tlsfront + `tlsfront-bench backend`, the command-line refusals of --rate, and the README's copy of
--help. Figures are checked for shape (counts, ordered percentiles), never for speed."""
import json
import os
import re
import subprocess
import unittest

import certs
import dovecot
import harness

STEPS = ('greeting', 'login', 'select', 'fetch', 'logout')
PERCENTILE_KEYS = {'min', 'p50', 'p99', 'p999', 'max', 'samples'}


def bench_binary():
    return os.path.join(os.path.dirname(harness.TLSFRONT), 'tlsfront-bench')


class BenchCase(unittest.TestCase):
    def run_bench(self, *args, expect=0):
        """Runs tlsfront-bench ARGS --json FILE; returns (JSON summary, stderr). Checks the exit status
        and that stdout and the file hold the same object."""
        path = os.path.join(harness.new_dir('bench-json'), 'summary.json')
        r = harness.run([bench_binary(), *args, '--json', path], timeout=120 * harness.time_scale())
        self.assertEqual(r.returncode, expect, f'{args}: exit {r.returncode}\n{r.stderr.decode()[-3000:]}')
        summary = json.loads(r.stdout)
        with open(path) as f:
            self.assertEqual(json.load(f), summary)
        return summary, r.stderr.decode()

    def assert_percentiles(self, obj, samples, what):
        self.assertEqual(set(obj), PERCENTILE_KEYS, what)
        self.assertEqual(obj['samples'], samples, f'{what}: {obj}')
        self.assertTrue(obj['min'] <= obj['p50'] <= obj['p99'] <= obj['p999'] <= obj['max'], f'{what}: {obj}')

    def assert_arrivals(self, summary, rate, scheduled):
        self.assertEqual(summary['rate'], rate, summary)
        self.assertEqual(summary['arrivals_scheduled'], scheduled, summary)
        self.assertTrue(0 <= summary['arrivals_late'] <= scheduled, summary)
        self.assert_percentiles(summary['start_delay_us'], scheduled, 'start_delay_us')


class BenchImapTest(BenchCase):
    """tlsfront in front of Dovecot's plain IMAP listener; tlsfront-bench imap through it."""

    @classmethod
    def setUpClass(cls):
        why = dovecot.available()
        if why:
            raise unittest.SkipTest(why)
        if not os.access(bench_binary(), os.X_OK):
            raise unittest.SkipTest(f'{bench_binary()} not built')
        pki = certs.get_pki()
        # the default of 10 sessions per user and IP refuses concurrent sessions as soon as a few
        # ending ones are still around
        cls.dovecot = dovecot.Dovecot(extra_conf='protocol imap {\n  mail_max_userip_connections = 1000\n}\n').start()
        cls.addClassCleanup(cls.dovecot.stop)
        cls.port = harness.free_port()
        cfg = harness.make_config(
            tls={'cert': pki.mail.cert, 'key': pki.mail.key},
            listeners=[{'name': 'imaps', 'listen': f'127.0.0.1:{cls.port}', 'protocol': 'imap',
                        'backend': f'127.0.0.1:{cls.dovecot.imap_port}', 'proxy_protocol': 'off'}])
        cls.tf = harness.start_tlsfront(cls, cfg, 'bench-imap')

    def imap_args(self, *extra):
        return ('imap', '--connect', f'127.0.0.1:{self.port}', '--user', dovecot.USER,
                '--password', dovecot.PASSWORD, '--threads', '1', '--timeout', str(20 * harness.time_scale()),
                *extra)

    def assert_steps(self, summary, sessions):
        self.assertEqual(set(summary['commands_us']), set(STEPS), summary)
        for step in STEPS:
            self.assert_percentiles(summary['commands_us'][step], sessions, f'commands_us.{step}')
        self.assertEqual(summary['greeting_us'], summary['commands_us']['greeting'])  # kept for older readers
        self.assert_percentiles(summary['latency_us'], 4 * sessions, 'latency_us')  # the four commands
        self.assert_percentiles(summary['session_ms'], sessions, 'session_ms')

    def test_imap_latency_per_command(self):
        summary, stderr = self.run_bench(*self.imap_args('--connections', '4', '--requests', '20'))
        self.assertEqual((summary['scenario'], summary['completed'], summary['errors']), ('imap', 20, 0), summary)
        self.assert_steps(summary, 20)
        self.assertGreater(summary['bytes'], 0)
        self.assertNotIn('rate', summary)  # closed loop: no arrival figures
        self.assertNotIn('arrivals_scheduled', summary)
        # the human summary: one line per step
        for label in ('greeting', 'LOGIN', 'SELECT', 'FETCH', 'LOGOUT', 'command latency', 'session time'):
            self.assertRegex(stderr, rf'(?m)^{label} +min .* \(\d+ samples\)$')

    def test_imap_rate(self):
        summary, stderr = self.run_bench(*self.imap_args('--connections', '4', '--rate', '20', '--requests', '10'))
        self.assertEqual((summary['completed'], summary['errors']), (10, 0), summary)
        self.assert_arrivals(summary, 20, 10)
        self.assert_steps(summary, 10)
        self.assert_percentiles(summary['handshake_us'], 10, 'handshake_us')
        self.assertRegex(stderr, r'(?m)^arrivals +10 at 20/s, \d+ late \(found no free connection\)')
        self.assertRegex(stderr, r'(?m)^arrival\+handshake +min ')


class BenchRateSyntheticTest(BenchCase):
    """--rate for handshake and pingpong: tlsfront in front of `tlsfront-bench backend`."""

    @classmethod
    def setUpClass(cls):
        if not os.access(bench_binary(), os.X_OK):
            raise unittest.SkipTest(f'{bench_binary()} not built')
        pki = certs.get_pki()
        backend_port, cls.port = harness.free_port(), harness.free_port()
        backend = harness.register_process(subprocess.Popen(
            [bench_binary(), 'backend', '--listen', f'127.0.0.1:{backend_port}', '--duration', '600'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cls.addClassCleanup(backend.kill)
        if not harness.wait_port_listening('127.0.0.1', backend_port, 10):
            raise RuntimeError('tlsfront-bench backend did not listen')
        cfg = harness.make_config(
            tls={'cert': pki.mail.cert, 'key': pki.mail.key},
            listeners=[{'name': 'load', 'listen': f'127.0.0.1:{cls.port}', 'protocol': 'imap',
                        'backend': f'127.0.0.1:{backend_port}'}])
        cls.tf = harness.start_tlsfront(cls, cfg, 'bench-rate')

    def common(self):
        return ('--connect', f'127.0.0.1:{self.port}', '--threads', '2', '--quiet',
                '--timeout', str(20 * harness.time_scale()))

    def test_handshake_rate(self):
        summary, _ = self.run_bench('handshake', *self.common(), '--connections', '4', '--rate', '50',
                                    '--requests', '20')
        self.assertEqual((summary['completed'], summary['handshakes'], summary['errors']), (20, 20, 0), summary)
        self.assert_arrivals(summary, 50, 20)
        self.assert_percentiles(summary['handshake_us'], 20, 'handshake_us')
        self.assertIn('handshakes_per_s', summary)

    def test_pingpong_rate(self):
        summary, _ = self.run_bench('pingpong', *self.common(), '--connections', '4', '--rate', '200',
                                    '--requests', '100')
        self.assertEqual((summary['completed'], summary['errors']), (100, 0), summary)
        self.assertEqual(summary['handshakes'], 4, summary)  # requests spread over the open connections
        self.assert_arrivals(summary, 200, 100)
        self.assert_percentiles(summary['latency_us'], 100, 'latency_us')

    def test_closed_loop_has_no_arrival_figures(self):
        summary, _ = self.run_bench('handshake', *self.common(), '--connections', '2', '--requests', '10')
        self.assertEqual((summary['completed'], summary['errors']), (10, 0), summary)
        for key in ('rate', 'arrivals_scheduled', 'arrivals_late', 'start_delay_us'):
            self.assertNotIn(key, summary)


class BenchCommandLineTest(unittest.TestCase):
    """Refused command lines exit 2 and name the option; no proxy needed (parsing comes first)."""

    def setUp(self):
        if not os.access(bench_binary(), os.X_OK):
            self.skipTest(f'{bench_binary()} not built')

    def test_rate_refusals(self):
        connect = ('--connect', f'127.0.0.1:{harness.closed_port()}')
        cases = [('handshake', '--rate', '0'), ('handshake', '--rate', '-5'), ('pingpong', '--rate', 'fast'),
                 ('imap', '--user', 'u', '--password', 'p', '--rate', '0'), ('handshake', '--rate'),
                 ('download', '--rate', '10'), ('upload', '--rate', '10'), ('idle', '--rate', '10')]
        for args in cases:
            with self.subTest(args=args):
                r = harness.run([bench_binary(), *args, *connect], timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn('--rate', r.stderr.decode())
                self.assertEqual(r.stdout, b'')  # nothing ran: no summary
        r = harness.run([bench_binary(), 'download', '--rate', '10', *connect], timeout=30)
        self.assertIn('not supported by download', r.stderr.decode())

    def test_readme_has_the_help_text(self):
        """bench/README.md "Command line" is a verbatim copy of --help."""
        r = harness.run([bench_binary(), '--help'], timeout=30)
        self.assertEqual(r.returncode, 0)
        with open(os.path.join(harness.PROJECT_ROOT, 'bench', 'README.md')) as f:
            readme = f.read()
        m = re.search(r'## Command line\n\n```\n(.*?)```\n', readme, re.S)
        self.assertIsNotNone(m, 'no ``` block under "## Command line" in bench/README.md')
        self.assertEqual(m.group(1), r.stdout.decode())
