"""TLS scanners against tlsfront (issue 10): `scripts/tls-scan.sh` starts the binary under test with
an RSA certificate and an ECDSA alt_cert, a listener with the default TLS settings and one with
`min_version = "1.3"`, and runs testssl.sh (Debian 3.0.8, offline) and sslscan against both; this
module runs the script once (setUpClass) and asserts on the raw results it kept:

- testssl.sh: no finding with severity HIGH or CRITICAL and none whose text says "NOT ok" or
  "VULNERABLE" (scripts/tls_scan_report.py's rule), no scan problem; protocols: TLS 1.2 and 1.3 on
  the default listener, TLS 1.3 only on the other, SSLv2/SSLv3/TLS 1.0/TLS 1.1 not offered; the
  rating is not capped (no `grade_cap_reason_*`; testssl.sh 3.0.8 has no rating section, so this
  holds vacuously until a newer testssl.sh is installed, and the FIGURE line says so).
- sslscan: SSLv2, SSLv3, TLS 1.0, TLS 1.1 not enabled; every suite AEAD (no CBC, no SHA-1 MAC); no
  static RSA key exchange; no compression; renegotiation not supported or secure only; Heartbleed
  not vulnerable.
- tlsfront exited 0 after SIGTERM with no sanitizer report, and the script exits 0 (its summary,
  the same format as docs/tls-scan.md, is written into the test's directory, not into docs/).

testssl.sh makes about 500 connections per listener (protocol and cipher probes, vulnerability
checks, 17 simulated clients) and takes about 50 s each; the whole module takes about 100 s with
the normal binary and about as long with the ASan one (testssl.sh's own work dominates), so it runs
with both: under ASan it also shows that those odd handshakes leave no sanitizer report.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(harness.PROJECT_ROOT, 'scripts'))
import tls_scan_report  # noqa: E402

SCRIPT = os.path.join(harness.PROJECT_ROOT, 'scripts', 'tls-scan.sh')
SCAN_TIMEOUT = 900  # seconds for the whole script; it bounds each scanner itself too


def figure(text):
    print(f'FIGURE: {text}', file=sys.stderr, flush=True)


def scanners_missing():
    missing = [t for t in ('sslscan', 'openssl') if not shutil.which(t)]
    if not (shutil.which('testssl') or shutil.which('testssl.sh')):
        missing.append('testssl.sh')
    return missing


class TlsScanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = scanners_missing()
        if missing:
            raise unittest.SkipTest(f'{", ".join(missing)} not installed (scripts/install-deps.sh installs them)')
        cls.results = harness.new_dir('tls-scan')
        cls.summary = os.path.join(cls.results, 'tls-scan.md')
        started = time.monotonic()
        proc = harness.register_process(subprocess.Popen(
            ['bash', SCRIPT, '--out', cls.results, '--summary', cls.summary, harness.TLSFRONT],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True))  # its own process group: a timeout stops the scanners too
        try:
            out, _ = proc.communicate(timeout=SCAN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            raise AssertionError(f'tls-scan.sh did not finish within {SCAN_TIMEOUT}s:\n'
                                 + out.decode(errors='replace')[-3000:])
        cls.script_rc = proc.returncode
        cls.script_output = out.decode(errors='replace')
        cls.seconds = time.monotonic() - started
        figure(f'tls-scan.sh: both listeners scanned by testssl.sh and sslscan in {cls.seconds:.0f} s '
               f'(exit {cls.script_rc})')

    def path(self, name):
        return os.path.join(self.results, name)

    def findings_of(self, label):
        p = self.path(f'testssl-{label}.json')
        self.assertTrue(os.path.exists(p), f'testssl.sh wrote no JSON for {label}:\n{self.script_output[-3000:]}')
        return tls_scan_report.load_testssl(p)

    def sslscan_of(self, label):
        p = self.path(f'sslscan-{label}.xml')
        self.assertTrue(os.path.exists(p), f'sslscan wrote no XML for {label}:\n{self.script_output[-3000:]}')
        return tls_scan_report.SslscanResult(p, self.path(f'sslscan-{label}.txt'))

    # -- testssl.sh ----------------------------------------------------------------------------
    def test_testssl_no_bad_findings(self):
        for label in tls_scan_report.LABELS:
            with self.subTest(listener=label):
                findings = self.findings_of(label)
                self.assertGreater(len(findings), 50, 'testssl.sh reported almost nothing: did the scan run?')
                self.assertEqual(tls_scan_report.testssl_scan_problems(findings), [])
                self.assertEqual(tls_scan_report.testssl_required_missing(findings), [])
                bad = tls_scan_report.testssl_bad_findings(findings)
                self.assertEqual(bad, [], '\n'.join(f'{x["id"]} [{x.get("severity")}]: {x.get("finding")}'
                                                    for x in bad))
                counts = tls_scan_report.severity_counts(findings)
                figure(f'testssl.sh {label}: {len(findings)} findings, by severity '
                       + ', '.join(f'{k} {v}' for k, v in sorted(counts.items())) + f'; {len(bad)} not ok')

    def test_testssl_protocols(self):
        expected = {'default': {'TLS1_2', 'TLS1_3'}, 'tls13': {'TLS1_3'}}
        for label, offered_ids in expected.items():
            with self.subTest(listener=label):
                findings = self.findings_of(label)
                offered = set()
                for ident in ('SSLv2', 'SSLv3', 'TLS1', 'TLS1_1', 'TLS1_2', 'TLS1_3'):
                    rows = tls_scan_report.by_id(findings, ident)
                    self.assertEqual(len(rows), 1, f'{ident}: {rows}')
                    text = rows[0]['finding']
                    if not text.startswith('not offered'):
                        self.assertTrue(text.startswith('offered'), f'{ident}: {text}')
                        offered.add(ident)
                self.assertEqual(offered, offered_ids)
                figure(f'testssl.sh {label}: protocols offered {sorted(offered)}')

    def test_testssl_client_simulation_mail_clients(self):
        """Mail clients connect (Apple Mail 16 only speaks up to TLS 1.2, so not to the 1.3-only
        listener); browsers offering ALPN h2/http/1.1 are refused (ALPACA): not asserted one by one."""
        expected = {'default': {'apple_mail_16_0': 'TLSv1.2', 'thunderbird_91_9': 'TLSv1.3', 'openssl_303': 'TLSv1.3'},
                    'tls13': {'apple_mail_16_0': None, 'thunderbird_91_9': 'TLSv1.3', 'openssl_303': 'TLSv1.3'}}
        for label, clients in expected.items():
            with self.subTest(listener=label):
                sims = tls_scan_report.client_simulations(self.findings_of(label))
                for client, version in clients.items():
                    self.assertIn(client, sims)
                    if version:
                        self.assertTrue(sims[client].startswith(version + ' '), f'{client}: {sims[client]}')
                    else:
                        self.assertEqual(sims[client], 'No connection', f'{client}: {sims[client]}')
                connected = sorted(k for k, v in sims.items() if v.startswith('TLS'))
                figure(f'testssl.sh {label}: {len(connected)} of {len(sims)} simulated clients connect: '
                       + ', '.join(connected))

    def test_testssl_rating_not_capped(self):
        for label in tls_scan_report.LABELS:
            with self.subTest(listener=label):
                findings = self.findings_of(label)
                rating, caps = tls_scan_report.testssl_rating(findings)
                self.assertEqual(caps, [], caps)
                grade = tls_scan_report.by_id(findings, 'overall_grade')
                if grade:
                    self.assertNotRegex(grade[0]['finding'], r'cap', grade)
                figure(f'testssl.sh {label}: rating entries {len(rating)}, grade caps {len(caps)}'
                       + (f', overall grade {grade[0]["finding"]}' if grade else
                          ' (testssl.sh 3.0.8 has no rating section)'))

    # -- sslscan -------------------------------------------------------------------------------
    def test_sslscan_policy(self):
        expected = {'default': {'TLSv1.2', 'TLSv1.3'}, 'tls13': {'TLSv1.3'}}
        for label, protocols in expected.items():
            with self.subTest(listener=label):
                s = self.sslscan_of(label)
                self.assertEqual(s.problems(), [])
                self.assertEqual(set(s.enabled_protocols()), protocols)
                self.assertIsNotNone(s.renegotiation)
                self.assertFalse(s.renegotiation.get('supported') == '1' and s.renegotiation.get('secure') != '1')
                if s.compression is None:  # Debian's sslscan has no zlib: testssl.sh's CRIME check instead
                    self.assertTrue(s.compression_untestable(), s.text[-2000:])
                    crime = tls_scan_report.by_id(self.findings_of(label), 'CRIME_TLS')
                    self.assertTrue(crime and all(x['severity'] == 'OK' for x in crime), crime)
                else:
                    self.assertEqual(s.compression.get('supported'), '0')
                ciphers = sorted({f'{c["sslversion"]} {c["cipher"]}' for c in s.ciphers})
                figure(f'sslscan {label}: protocols {sorted(s.enabled_protocols())}, {len(ciphers)} suites '
                       f'({"; ".join(ciphers)}), renegotiation {s.renegotiation}, compression '
                       + (f'{s.compression}' if s.compression else 'not testable by sslscan, testssl.sh CRIME_TLS OK'))

    # -- tlsfront and the script ---------------------------------------------------------------
    def test_tlsfront_clean_exit_and_script_result(self):
        problems = tls_scan_report.check_results(self.results)
        self.assertEqual(problems['tlsfront'], [])
        reasons = tls_scan_report.close_reasons(harness.read_text(self.path('tlsfront.log')))
        self.assertEqual(self.script_rc, 0, self.script_output[-3000:])
        self.assertTrue(os.path.exists(self.summary))
        figure(f'tlsfront during the scans: {sum(reasons.values())} connections, close reasons {reasons}')


if __name__ == '__main__':
    unittest.main()
