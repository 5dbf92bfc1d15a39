"""Relay: byte-exact bulk transfers both ways, many concurrent sessions, unix-socket backend,
backpressure, and the per-connection log line (text and JSON)."""
import asyncio
import hashlib
import json
import os
import time
import unittest

import backends
import certs
import harness
import tlsclient
from tlsclient import run_async

MiB = 1 << 20


class RelayTest(unittest.TestCase):
    ECHO_SIZE = 8 * MiB
    DOWN_SIZE = 16 * MiB
    UP_SIZE = 16 * MiB
    STALL_SIZE = 128 * MiB

    @classmethod
    def setUpClass(cls):
        p = cls.pki = certs.get_pki()
        cls.down_data = backends.random_bytes(cls.DOWN_SIZE, seed=2)
        cls.stall_data = backends.random_bytes(cls.STALL_SIZE, seed=3)
        cls.dir = harness.new_dir('relay')
        cls.echo = backends.EchoBackend()
        cls.stream = backends.StreamBackend(cls.down_data)
        cls.sink = backends.SinkBackend(cls.UP_SIZE)
        cls.stall = backends.StreamBackend(cls.stall_data, sndbuf=65536)
        cls.unix_echo = backends.EchoBackend(unix_path=os.path.join(cls.dir, 'echo.sock'))
        cls.backends = [cls.echo, cls.stream, cls.sink, cls.stall, cls.unix_echo]
        cls.ports = {n: harness.free_port() for n in ('echo', 'stream', 'sink', 'stall', 'unix')}
        listeners = [{'name': n, 'listen': f'127.0.0.1:{cls.ports[n]}', 'protocol': 'imap', 'backend': b.address}
                     for n, b in (('echo', cls.echo), ('stream', cls.stream), ('sink', cls.sink),
                                  ('stall', cls.stall), ('unix', cls.unix_echo))]
        # 300 handshakes at once in test_300_concurrent_sessions: the timeout scales with the build
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key}, listeners=listeners,
                                  server={'shutdown_grace': '2s',
                                          'handshake_timeout': f'{int(5 * harness.time_scale())}s'})
        for b in cls.backends:
            cls.addClassCleanup(b.close)
        cls.tf = harness.start_tlsfront(cls, cfg, 'relay')

    def timeout(self, base):
        return base * harness.time_scale()

    # -- bulk ------------------------------------------------------------------------------------------
    def test_echo_8mib_both_ways_concurrently(self):
        mark = self.tf.mark()
        payload = backends.random_bytes(self.ECHO_SIZE, seed=1)

        async def go():
            reader, writer = await tlsclient.open_tls(self.ports['echo'])
            port = writer.get_extra_info('sockname')[1]

            async def send():
                for i in range(0, len(payload), 65536):
                    writer.write(payload[i:i + 65536])
                    await writer.drain()
            sender = asyncio.ensure_future(send())
            got = await reader.readexactly(len(payload))
            await sender
            await tlsclient.close_writer(writer)
            return port, got

        port, got = run_async(go(), self.timeout(60))
        self.assertEqual(len(got), len(payload))
        self.assertTrue(got == payload, 'echoed bytes differ from what was sent')
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('bytes_in'), str(len(payload)), rec)
        self.assertEqual(rec.get('bytes_out'), str(len(payload)), rec)

    def test_download_16mib(self):
        mark = self.tf.mark()
        async def go():
            reader, writer = await tlsclient.open_tls(self.ports['stream'])
            port = writer.get_extra_info('sockname')[1]
            h, n = hashlib.sha256(), 0
            while True:
                d = await reader.read(262144)
                if not d:
                    break
                h.update(d)
                n += len(d)
            await tlsclient.close_writer(writer)
            return port, n, h.hexdigest()

        port, n, digest = run_async(go(), self.timeout(60))
        self.assertEqual(n, self.DOWN_SIZE)
        self.assertEqual(digest, hashlib.sha256(self.down_data).hexdigest())
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('bytes_out'), str(self.DOWN_SIZE), rec)
        self.assertEqual(rec.get('bytes_in'), '0', rec)
        self.assertEqual(rec.get('reason'), 'done', rec)

    def test_upload_16mib(self):
        mark = self.tf.mark()
        payload = backends.random_bytes(self.UP_SIZE, seed=4)

        async def go():
            reader, writer = await tlsclient.open_tls(self.ports['sink'])
            port = writer.get_extra_info('sockname')[1]
            for i in range(0, len(payload), 262144):
                writer.write(payload[i:i + 262144])
                await writer.drain()
            line = await reader.readline()
            await tlsclient.close_writer(writer)
            return port, line

        port, line = run_async(go(), self.timeout(60))
        self.assertEqual(line.strip().decode(), hashlib.sha256(payload).hexdigest(),
                         'the backend did not receive exactly the bytes that were sent')
        rec = self.tf.close_record(port, since=mark)
        self.assertEqual(rec.get('bytes_in'), str(self.UP_SIZE), rec)
        self.assertEqual(rec.get('bytes_out'), str(len(line)), rec)

    def test_unix_socket_backend(self):
        payload = backends.random_bytes(1 * MiB, seed=5)

        async def go():
            reader, writer = await tlsclient.open_tls(self.ports['unix'])
            writer.write(payload)
            await writer.drain()
            got = await reader.readexactly(len(payload))
            await tlsclient.close_writer(writer)
            return got
        self.assertTrue(run_async(go(), self.timeout(30)) == payload)

    # -- concurrency -----------------------------------------------------------------------------------
    def test_300_concurrent_sessions(self):
        n = 300
        start_backend = self.echo.count()

        arrived = [0]  # sessions established or failed: one failure must not hold the others back
        at_gate = []   # backend connections when the gate opened

        async def one(i, gate):
            try:
                reader, writer = await tlsclient.open_tls(self.ports['echo'], servername=f's{i}.test',
                                                          timeout=self.timeout(30))
            finally:
                arrived[0] += 1
            await gate.wait()  # every session is established before any of them talks
            msg = (f'session {i} '.encode() * 50)[:1000] + os.urandom(24)
            writer.write(msg)
            await writer.drain()
            got = await reader.readexactly(len(msg))
            await tlsclient.close_writer(writer)
            return got == msg

        async def go():
            gate = asyncio.Event()
            tasks = [asyncio.ensure_future(one(i, gate)) for i in range(n)]
            # wait until all are connected (the backend sees a connection per established session),
            # but not past the backend's own I/O timeout (backends.IO_TIMEOUT, 60 s), which would end
            # every session waiting here: a late one is then judged by its echo, not by the wait
            deadline = time.monotonic() + min(30 * harness.time_scale(), 45)
            while time.monotonic() < deadline:
                failed = sum(1 for t in tasks if t.done())  # before the gate only a failure ends a task
                if arrived[0] >= n and self.echo.count() - start_backend >= n - failed:
                    break
                await asyncio.sleep(0.1)
            at_gate.append(self.echo.count() - start_backend)
            gate.set()
            return await asyncio.gather(*tasks, return_exceptions=True)

        results = run_async(go(), self.timeout(90))
        errors = [r for r in results if isinstance(r, BaseException)]
        ok = sum(1 for r in results if r is True)
        self.assertEqual(ok, n, f'{ok}/{n} sessions echoed correctly ({at_gate} backend connections at the gate); '
                                f'first errors: {errors[:3]!r}')
        self.assertGreaterEqual(self.echo.count() - start_backend, n)

    # -- backpressure ----------------------------------------------------------------------------------
    def test_backpressure_slow_client_stalls_backend(self):
        """A client that stops reading must stop the backend (bounded buffers), not make tlsfront
        buffer the whole stream; when the client reads again every byte arrives intact."""
        start = self.stall.count()

        async def go():
            reader, writer = await tlsclient.open_tls(self.ports['stall'], rcvbuf=65536)
            port = writer.get_extra_info('sockname')[1]
            # let the backend push as much as the path will take
            conn = None
            sent_before = -1
            for _ in range(100):
                await asyncio.sleep(0.1)
                if self.stall.count() > start:
                    conn = self.stall.conns[start]
                    if conn.bytes_sent == sent_before and conn.bytes_sent > 0:
                        break
                    sent_before = conn.bytes_sent
            stalled_at = conn.bytes_sent if conn else None
            h, n = hashlib.sha256(), 0
            while True:
                d = await reader.read(262144)
                if not d:
                    break
                h.update(d)
                n += len(d)
            await tlsclient.close_writer(writer)
            return port, stalled_at, n, h.hexdigest()

        port, stalled_at, n, digest = run_async(go(), self.timeout(90))
        self.assertIsNotNone(stalled_at, 'backend never got a connection')
        self.assertLess(stalled_at, self.STALL_SIZE // 2,
                        f'backend pushed {stalled_at} of {self.STALL_SIZE} bytes to a client that read nothing')
        self.assertEqual(n, self.STALL_SIZE)
        self.assertEqual(digest, hashlib.sha256(self.stall_data).hexdigest())

    # -- TLS 1.3 record layer -------------------------------------------------------------------------
    def s_client_session(self, lines, extra=()):
        """openssl s_client through the echo listener, fed `lines` one at a time (each waits for the
        echo of the previous data line; 'K'/'k' are s_client's KeyUpdate commands): its output."""
        import subprocess
        import threading
        proc = subprocess.Popen(['openssl', 's_client', '-connect', f'127.0.0.1:{self.ports["echo"]}',
                                 '-servername', 'relay.test', *extra],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = bytearray()
        lock = threading.Condition()

        def reader():
            for chunk in iter(lambda: proc.stdout.read1(4096), b''):
                with lock:
                    out.extend(chunk)
                    lock.notify_all()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            for line in lines:
                proc.stdin.write(line + b'\n')
                proc.stdin.flush()
                if line in (b'K', b'k'):
                    # s_client reads a command from the start of one read of stdin and drops the
                    # rest of it: the next line must not arrive in the same read
                    time.sleep(1)
                    continue
                with lock:  # the echo comes back on a line of its own (stdin is not shown)
                    lock.wait_for(lambda: line + b'\n' in out or proc.poll() is not None,
                                  timeout=self.timeout(10))
            proc.stdin.close()
            proc.wait(self.timeout(10))
        finally:
            if proc.poll() is None:
                proc.kill()
            t.join(5)
        return bytes(out)

    def test_key_update_from_openssl_client(self):
        mark = self.tf.mark()
        out = self.s_client_session([b'before-update', b'K', b'after-requested-update', b'k',
                                     b'after-plain-update'])
        text = out.decode(errors='replace')
        self.assertIn('TLSv1.3', text)
        self.assertEqual(text.count('KEYUPDATE'), 2, text[-2000:])
        for word in ('before-update', 'after-requested-update', 'after-plain-update'):
            # echoed by the backend and read under the keys of the moment
            self.assertEqual(text.count(word + '\n'), 1, f'{word}: {text[-2000:]}')
        self.assertNotIn('alert', text.lower(), text[-2000:])
        rec = self.tf.wait_for('close', since=mark, listener='echo', tls='TLSv1.3')
        self.assertEqual(rec.get('reason'), 'done', rec)
        print(f'FIGURE: TLS 1.3 KeyUpdate through tlsfront: openssl s_client sent update_requested and '
              f'update_not_requested mid-session; every line came back under the new keys '
              f'(bytes_in={rec.get("bytes_in")}, bytes_out={rec.get("bytes_out")}, reason={rec.get("reason")})')

    def test_tls12_session_keeps_boringssl_records(self):
        mark = self.tf.mark()
        out = self.s_client_session([b'tls12-line-one', b'tls12-line-two'], extra=['-tls1_2'])
        text = out.decode(errors='replace')
        self.assertIn('TLSv1.2', text)
        self.assertEqual(text.count('tls12-line-two\n'), 1, text[-2000:])
        rec = self.tf.wait_for('close', since=mark, listener='echo', tls='TLSv1.2')
        self.assertEqual(rec.get('reason'), 'done', rec)


class JsonLogTest(unittest.TestCase):
    def test_json_log_format(self):
        p = certs.get_pki()
        echo = backends.EchoBackend()
        port = harness.free_port()
        cfg = harness.make_config(tls={'cert': p.global_.cert, 'key': p.global_.key},
                                  server={'log_format': 'json'},
                                  listeners=[{'name': 'jsonl', 'listen': f'127.0.0.1:{port}', 'protocol': 'pop3',
                                              'backend': echo.address}])
        tf = harness.TlsFront(cfg, 'json')
        try:
            tf.start()
            s = tlsclient.tls_connect(port, servername='json.example.org')
            cport = s.getsockname()[1]
            self.assertEqual(tlsclient.echo_roundtrip(s, b'hello json\r\n'), b'hello json\r\n')
            s.close()
            rec = tf.close_record(cport)
        finally:
            problem = tf.stop_and_check()
            echo.close()
        self.assertFalse(problem, problem)
        for line in tf.lines:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    self.fail(f'log line is not JSON: {line!r}')
                self.assertIsInstance(obj, dict, line)
        self.assertEqual(rec.get('listener'), 'jsonl')
        self.assertEqual(rec.get('sni'), 'json.example.org')
        self.assertEqual(rec.get('bytes_in'), '12')
        self.assertEqual(rec.get('bytes_out'), '12')
        for key in ('ts', 'level', 'conn', 'client', 'tls', 'cipher', 'duration_ms', 'reason'):
            self.assertIn(key, rec)
        self.assertEqual(len(tf.events('ready')), 1)


if __name__ == '__main__':
    unittest.main()
