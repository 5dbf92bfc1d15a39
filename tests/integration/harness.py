"""Shared pieces of the integration tests: the tlsfront process, its config and its log.

Everything here uses the Python 3 standard library only. Every wait is bounded by a deadline, so a
hang becomes a test failure instead of a stuck CI job.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT_ROOT = os.path.dirname(os.path.dirname(HERE))

# Filled in by run_all.py (or from the environment when a module is run on its own).
TLSFRONT = os.environ.get('TLSFRONT_BIN', '')
KEEP_TMP = os.environ.get('TLSFRONT_KEEP_TMP', '') not in ('', '0')

_session_dir = None
_session_lock = threading.Lock()
_live_processes = []  # every Popen we started, so run_all.py can stop leftovers by PID


def session_dir():
    """One temporary directory for the whole run (mode 755: Dovecot's unprivileged processes
    must be able to traverse it)."""
    global _session_dir
    with _session_lock:
        if _session_dir is None:
            _session_dir = tempfile.mkdtemp(prefix='tlsfront-it-')
            os.chmod(_session_dir, 0o755)
        return _session_dir


def new_dir(name):
    path = tempfile.mkdtemp(prefix=name + '-', dir=session_dir())
    os.chmod(path, 0o755)
    return path


_cleanups = []  # callables for daemons that are not our children (e.g. Postfix's master)


def register_cleanup(fn):
    _cleanups.append(fn)
    return fn


def cleanup_session():
    for fn in reversed(_cleanups):
        try:
            fn()
        except Exception:  # best effort: the run is over
            pass
    for p in list(_live_processes):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    if _session_dir and not KEEP_TMP:
        shutil.rmtree(_session_dir, ignore_errors=True)


def register_process(p):
    _live_processes.append(p)
    return p


def is_sanitized_binary(path):
    """True when tlsfront was built with ASan (then everything is slower: scale the waits)."""
    try:
        out = subprocess.run(['ldd', path], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return 'libasan' in out


_scale = None


def time_scale():
    """Factor for bulk-work timeouts (not for the proxy's own timers): 3 under ASan."""
    global _scale
    if _scale is None:
        env = os.environ.get('TLSFRONT_TIMEOUT_SCALE')
        if env:
            _scale = float(env)
        else:
            _scale = 3.0 if (TLSFRONT and is_sanitized_binary(TLSFRONT)) else 1.0
    return _scale


def is_root():
    return os.geteuid() == 0


# ---------------------------------------------------------------------------------------------
# Ports. Listening ports for tlsfront come from a range below the kernel's ephemeral range
# (32768-60999 by default), so a client socket's source port cannot take one between the moment we
# pick it and the moment tlsfront binds it.

_port_lock = threading.Lock()
_next_port = 20000 + (os.getpid() * 7919) % 9000


def free_port(hosts=('127.0.0.1',)):
    """A TCP port that is free on every address in hosts right now."""
    global _next_port
    with _port_lock:
        for _ in range(2000):
            port = _next_port
            _next_port += 1
            if _next_port >= 31000:
                _next_port = 20000
            ok = True
            for host in hosts:
                s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                finally:
                    s.close()
                if not ok:
                    break
            if ok:
                return port
    raise RuntimeError('no free port found')


def closed_port():
    """A port on 127.0.0.1 where nothing listens (connecting gives ECONNREFUSED)."""
    return free_port()


def port_in_listen_state(port, host='127.0.0.1'):
    """True when a TCP socket on host:port is in LISTEN state, read from /proc/net/tcp without
    connecting (a connect would upset a listener that expects a PROXY header first)."""
    want = f'{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}'
    anywhere = f'00000000:{port:04X}'
    try:
        with open('/proc/net/tcp') as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == '0A' and fields[1] in (want, anywhere):  # 0A = TCP_LISTEN
                    return True
    except OSError:
        pass
    return False


def wait_until(predicate, timeout, interval=0.05):
    """Poll predicate() until it returns something true (returned) or timeout passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_text(path, since=0):
    """The text of a file from byte offset since ('' when it does not exist)."""
    try:
        with open(path, 'rb') as f:
            f.seek(since)
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def wait_file_match(path, regex, since=0, timeout=10.0):
    """Wait until a line of the file (from byte offset since) matches regex; returns the match or
    raises AssertionError with the file's tail."""
    pattern = re.compile(regex, re.M)
    m = wait_until(lambda: pattern.search(read_text(path, since)), timeout)
    if m is None:
        raise AssertionError(f'no line matching {regex!r} in {path} within {timeout:.1f}s; tail:\n'
                             + read_text(path, since)[-3000:])
    return m


class LogFile:
    """Mixin for fixtures whose daemon writes a log file at self.log_path."""

    def log(self, since=0):
        return read_text(self.log_path, since)

    def log_mark(self):
        """Position in the log; pass to wait_log() to only look at later lines."""
        return file_size(self.log_path)

    def wait_log(self, regex, since=0, timeout=10.0):
        return wait_file_match(self.log_path, regex, since, timeout)


def daemon_unavailable(command, users, package):
    """'' when COMMAND can be started here as a root daemon whose USERS exist, else why not."""
    if not shutil.which(command):
        return f'{command} is not installed (scripts/install-deps.sh installs it)'
    if os.geteuid() != 0:
        return f'{command} is started as a root daemon: run the tests as root'
    import pwd
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f'the {user} user is missing ({package} creates it)'
    return ''


def wait_port_listening(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------------
# TOML writing (just what our configs need).

def toml_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string for everything we write (ASCII, escapes)
    if isinstance(v, (list, tuple)):
        return '[' + ', '.join(toml_value(x) for x in v) + ']'
    raise TypeError(f'no TOML form for {v!r}')


def toml_table(header, values):
    lines = [header]
    for k, v in values.items():
        if v is None:
            continue
        lines.append(f'{k} = {toml_value(v)}')
    return '\n'.join(lines) + '\n'


def make_config(listeners, server=None, tls=None, local_names=(), locals_=()):
    """listeners: list of dicts; a 'tls' entry becomes the [listener.tls] sub-table."""
    server_defaults = {'workers': 2, 'handshake_timeout': '5s', 'shutdown_grace': '2s'}
    server_defaults.update(server or {})
    parts = [toml_table('[server]', server_defaults)]
    if tls:
        parts.append(toml_table('[tls]', tls))
    for ln in local_names:
        parts.append(toml_table('[[local_name]]', ln))
    for lo in locals_:
        parts.append(toml_table('[[local]]', lo))
    for li in listeners:
        li = dict(li)
        sub = li.pop('tls', None)
        parts.append(toml_table('[[listener]]', li))
        if sub:
            parts.append(toml_table('[listener.tls]', sub))
    return '\n'.join(parts)


# ---------------------------------------------------------------------------------------------
# Log lines: `ts=... level=info event=close conn=1f listener=imaps client=127.0.0.1:4242 ...`
# (values with spaces or quotes are double-quoted), or one JSON object per line.

_KV = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    line = line.strip()
    if not line:
        return None
    if line.startswith('{'):
        try:
            obj = json.loads(line)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        return {k: (v if isinstance(v, str) else json.dumps(v) if not isinstance(v, (int, float)) else str(v))
                for k, v in obj.items()}
    if not line.startswith('ts='):
        return None
    out = {}
    for m in _KV.finditer(line):
        k, v = m.group(1), m.group(2)
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        out[k] = v
    return out


SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                     'WARNING: ThreadSanitizer', 'ERROR: UndefinedBehaviorSanitizer')


class TlsFront:
    """One tlsfront process with its own config file and captured log (stderr + stdout)."""

    def __init__(self, config_text, name='tlsfront', workdir=None):
        self.workdir = workdir or new_dir(name)
        self.config_path = os.path.join(self.workdir, 'tlsfront.toml')
        with open(self.config_path, 'w') as f:
            f.write(config_text)
        self.log_path = os.path.join(self.workdir, 'tlsfront.log')
        self.proc = None
        self.lines = []     # raw lines
        self.records = []   # parsed (dict) per raw line, or None
        self._cond = threading.Condition()
        self._reader = None
        self.returncode = None

    # -- process -----------------------------------------------------------------------------
    def start(self, wait_ready=True, timeout=None, extra_args=(), prefix=(), env=None):
        """prefix: a command that runs tlsfront (systemd-socket-activate ...); env: its environment."""
        timeout = timeout or 15 * time_scale()
        self.proc = register_process(subprocess.Popen(
            [*prefix, TLSFRONT, '-c', self.config_path, *extra_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env))
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        if wait_ready:
            rec = self.wait_for('ready', timeout=timeout, require=False)
            if rec is None:
                rc = self.proc.poll()
                self.kill()
                raise AssertionError(f'tlsfront did not log event=ready within {timeout:.0f}s '
                                     f'(exit code {rc}); log:\n{self.tail()}')
        return self

    def _read_loop(self):
        with open(self.log_path, 'w', errors='replace') as logf:
            for raw in iter(self.proc.stdout.readline, b''):
                text = raw.decode('utf-8', 'replace').rstrip('\n')
                logf.write(text + '\n')
                logf.flush()
                rec = parse_log_line(text)
                with self._cond:
                    self.lines.append(text)
                    self.records.append(rec)
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def reload(self, config_text=None, event='reload'):
        """SIGHUP (after writing config_text, if given); returns the event=reload (or the given event,
        e.g. reload_failed) record that follows."""
        if config_text is not None:
            with open(self.config_path, 'w') as f:
                f.write(config_text)
        mark = self.mark()
        self.signal(signal.SIGHUP)
        return self.wait_for(event, since=mark, timeout=10 * time_scale())

    def wait_exit(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader:
            self._reader.join(timeout=5)
        return self.returncode

    def stop(self, timeout=None):
        """SIGTERM, wait (bounded), SIGKILL as a last resort. Returns the exit code
        (negative = killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit(timeout or 10 * time_scale())
            if rc is None:
                self.kill()
                return -signal.SIGKILL
            return rc
        return self.wait_exit(5)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._reader:
            self._reader.join(timeout=5)
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def stop_and_check(self):
        """Stop; return a problem description ('' when it exited 0 with no sanitizer report)."""
        rc = self.stop()
        problems = []
        if rc != 0:
            problems.append(f'tlsfront exited with {rc} after SIGTERM (expected 0)')
        san = [l for l in self.lines if any(m in l for m in SANITIZER_MARKERS)]
        if san:
            problems.append('sanitizer report: ' + san[0])
        if problems:
            return '; '.join(problems) + '\nlog tail:\n' + self.tail(60)
        return ''

    # -- log -----------------------------------------------------------------------------------
    def tail(self, n=40):
        with self._cond:
            return '\n'.join(self.lines[-n:])

    def mark(self):
        """Position in the log; pass to events()/wait_for() to only look at later lines."""
        with self._cond:
            return len(self.records)

    @staticmethod
    def _match(rec, event, kv):
        if rec is None or rec.get('event') != event:
            return False
        for k, v in kv.items():
            if callable(v):
                if not v(rec.get(k)):
                    return False
            elif rec.get(k) != v:
                return False
        return True

    def events(self, event, since=0, **kv):
        with self._cond:
            return [r for r in self.records[since:] if self._match(r, event, kv)]

    def wait_for(self, event, timeout=10.0, since=0, require=True, **kv):
        """Wait for a log record with event=EVENT and the given key values; returns it (or None /
        raises AssertionError when require=True)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.records[since:]:
                    if self._match(r, event, kv):
                        return r
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not (self._reader and self._reader.is_alive())):
                    break
                self._cond.wait(min(left, 0.2))
        if require:
            want = ' '.join(f'{k}={v}' for k, v in kv.items() if not callable(v))
            raise AssertionError(f'no log line event={event} {want} within {timeout:.1f}s; log tail:\n'
                                 + self.tail())
        return None

    def close_record(self, client_port, timeout=10.0, host='127.0.0.1', since=0):
        """The event=close line of the connection whose client address is host:client_port, logged
        after `since` (a mark() taken before the connection: in a long-lived process an earlier
        connection may have had the same client port)."""
        return self.wait_for('close', timeout=timeout, since=since, client=f'{host}:{client_port}')


def start_tlsfront(test_class, config_text, name, workdir=None):
    """Start tlsfront for a test class (in setUpClass). A class cleanup stops it and fails on a bad
    exit or a sanitizer report; it runs before the cleanups registered earlier (LIFO), so register
    the backends' cleanups (test_class.addClassCleanup) before calling this."""
    tf = TlsFront(config_text, name, workdir=workdir).start()
    test_class.addClassCleanup(_stop_checked, tf)
    return tf


def _stop_checked(tf):
    problem = tf.stop_and_check()
    if problem:
        raise AssertionError(problem)


def run(cmd, timeout=30, input=None, env=None, cwd=None):
    """subprocess.run with a timeout that becomes a failed result instead of an exception."""
    try:
        return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, -9, e.stdout or b'', (e.stderr or b'') + b'\n[timed out]')


# ---------------------------------------------------------------------------------------------
# The admin endpoint, over plain HTTP/1.1.

def http_request(port, request, timeout=10.0):
    """Raw request bytes -> (status, headers text, body bytes)."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(request)
        data = bytearray()
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    head, _, body = bytes(data).partition(b'\r\n\r\n')
    m = re.match(rb'HTTP/1\.1 (\d{3}) ', head)
    return (int(m.group(1)) if m else None), head.decode(errors='replace'), body


def http_get(port, path):
    return http_request(port, f'GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n'.encode())
