#!/usr/bin/env python3
"""Integration tests of the built tlsfront binary (Python 3 standard library only).

  python3 tests/integration/run_all.py --tlsfront $PWD/build/tlsfront [-k PATTERN ...] [-v] [--keep-tmp]

Runs every tests/integration/test_*.py module with unittest. The last line of output is always
`N passed, N failed` (errors and unexpected successes count as failed; skips are listed above it).
Exit status: 0 when nothing failed and at least one test passed, 1 otherwise.
"""
import argparse
import os
import signal
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

PER_TEST_LIMIT = 240  # seconds; a test that takes longer is interrupted and fails


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout(f'test exceeded {PER_TEST_LIMIT * harness.time_scale():.0f}s')


class CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0
        self._started = {}

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        signal.alarm(int(PER_TEST_LIMIT * harness.time_scale()))
        super().startTest(test)

    def stopTest(self, test):
        signal.alarm(0)
        super().stopTest(test)

    def addSuccess(self, test):
        self.passed += 1
        super().addSuccess(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tlsfront', default=os.environ.get('TLSFRONT_BIN', ''),
                    help='path to the built tlsfront binary')
    ap.add_argument('-k', dest='patterns', action='append', default=[],
                    help='only run tests whose id contains this substring (repeatable)')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('--keep-tmp', action='store_true', help='keep the temporary directory')
    args = ap.parse_args()

    if not args.tlsfront or not os.access(args.tlsfront, os.X_OK):
        print(f'run_all.py: tlsfront binary not found or not executable: {args.tlsfront!r}')
        print('0 passed, 1 failed')
        return 1
    harness.TLSFRONT = os.path.abspath(args.tlsfront)
    os.environ['TLSFRONT_BIN'] = harness.TLSFRONT
    harness.KEEP_TMP = args.keep_tmp or harness.KEEP_TMP

    # 300 concurrent sessions need ~1,000 descriptors in this process.
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass

    signal.signal(signal.SIGALRM, _on_alarm)
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f'*{p}*' for p in args.patterns]
    suite = loader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)

    print(f'tlsfront integration tests: binary {harness.TLSFRONT} '
          f'(timeout scale {harness.time_scale():g}), tmp {harness.session_dir()}', flush=True)
    start = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if args.verbose else 1,
                                     resultclass=CountingResult, buffer=False)
    try:
        result = runner.run(suite)
    except BaseException:
        traceback.print_exc()
        harness.cleanup_session()
        print('0 passed, 1 failed')
        return 1
    finally:
        signal.alarm(0)
    harness.cleanup_session()

    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    if result.skipped:
        print(f'{len(result.skipped)} skipped:')
        for test, why in result.skipped:
            print(f'  {test.id()}: {why}')
    if failed:
        print('failed:')
        for test, _ in result.failures + result.errors:
            print(f'  {test.id()}')
        for test in result.unexpectedSuccesses:
            print(f'  {test.id()} (unexpected success)')
    print(f'integration run took {time.monotonic() - start:.1f}s')
    print(f'{result.passed} passed, {failed} failed', flush=True)
    return 0 if failed == 0 and result.passed > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
