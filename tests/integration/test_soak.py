"""Soak (issue 10): scripts/soak.sh under ASan+UBSan. 200,000 short sessions through one worker
(`workers = 1`), made by the normal build's tlsfront-bench in chunks of 10,000: half full
handshakes, half resumed, TLS 1.3 and TLS 1.2 chunks alternating, each with a PING/PONG through
the backend and close_notify. Asserts: every connection completed without error and closed with
`reason=done`, the resumed connections did resume (share > 90%), VmRSS at the end within 5% of
VmRSS after the first 10,000, tlsfront exited 0 after SIGTERM and LeakSanitizer reported 0 leaks
(no sanitizer report at all).

Runs only with the ASan binary (harness.is_sanitized_binary): the leak check is the point, and the
RSS check is stricter there (ASan's quarantine would show a leak as growth too). Skipped with the
normal binary. TLSFRONT_SOAK_CONNECTIONS sets the count (e.g. 20000 for a quick run).
"""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

import harness

SCRIPT = os.path.join(harness.PROJECT_ROOT, 'scripts', 'soak.sh')
DEFAULT_CONNECTIONS = 200000


def figure(text):
    print(f'FIGURE: {text}', file=sys.stderr, flush=True)


def normal_bench():
    """The normal build's tlsfront-bench (an ASan client would only slow the soak down)."""
    build_dir = os.path.dirname(harness.TLSFRONT)
    for candidate in (os.path.join(harness.PROJECT_ROOT, 'build', 'tlsfront-bench'),
                      os.path.join(os.path.dirname(build_dir), 'build', 'tlsfront-bench'),
                      os.path.join(build_dir, 'tlsfront-bench')):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class SoakTest(unittest.TestCase):
    def test_soak_one_worker_under_asan(self):
        if not harness.is_sanitized_binary(harness.TLSFRONT):
            self.skipTest('the soak runs with the ASan+UBSan binary only (its point is the leak check)')
        bench = normal_bench()
        if not bench:
            self.skipTest('tlsfront-bench not found next to the build')
        connections = int(os.environ.get('TLSFRONT_SOAK_CONNECTIONS', DEFAULT_CONNECTIONS))
        env = dict(os.environ, TLSFRONT_BENCH=bench,
                   ASAN_OPTIONS=os.environ.get('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=1'),
                   UBSAN_OPTIONS=os.environ.get('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1'))
        # the runner's alarm is 240 s x time_scale; stay within it
        limit = 235 * harness.time_scale()
        started = time.monotonic()
        proc = harness.register_process(subprocess.Popen(
            ['bash', SCRIPT, harness.TLSFRONT, str(connections)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True))
        try:
            out, _ = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            self.fail(f'soak.sh did not finish within {limit:.0f}s:\n{out.decode(errors="replace")[-3000:]}')
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        text = out.decode(errors='replace')
        m = re.search(r'^soak: (.*)$', text, re.M)
        self.assertIsNotNone(m, f'no result line (exit {proc.returncode}):\n{text[-3000:]}')
        r = dict(kv.split('=', 1) for kv in m.group(1).split())
        figure(f'soak under ASan: {r.get("connections")} connections through 1 worker in {r.get("seconds")} s '
               f'({time.monotonic() - started:.0f} s with set-up and the exit leak check; {r.get("full")} full, '
               f'resumed share {r.get("resumed_share")}, {r.get("close_tls12")} TLS 1.2), VmRSS after the first '
               f'chunk {r.get("rss_first_chunk_kib")} KiB, at the end {r.get("rss_end_kib")} KiB '
               f'({r.get("growth_pct")}%), leaks {r.get("leaks")} ({r.get("leaked_bytes")} bytes), '
               f'errors {r.get("errors")}')
        self.assertEqual(int(r['connections']), connections, text[-3000:])
        self.assertEqual(int(r['errors']), 0, text[-3000:])
        self.assertEqual(int(r['close_done']), connections, text[-3000:])
        self.assertGreater(float(r['resumed_share']), 0.9, text[-3000:])
        self.assertLessEqual(abs(float(r['growth_pct'])), 5.0, text[-3000:])
        self.assertEqual(int(r['leaks']), 0, text[-3000:])
        self.assertEqual(r['result'], 'PASS', text[-3000:])
        self.assertEqual(proc.returncode, 0, text[-3000:])


if __name__ == '__main__':
    unittest.main()
