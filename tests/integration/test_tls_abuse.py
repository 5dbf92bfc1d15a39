"""TLS-level abuse (issue 10): what a hostile client does to the TLS layer itself. Each one gets an
alert (or a clean refusal) and one close line naming the cause, and nothing else changes: a
session established before it keeps echoing and tlsfront keeps running.

- Renegotiation: a TLS 1.2 client's renegotiation (`openssl s_client -tls1_2`, the `R` command)
  gets the no_renegotiation alert (100); `reason=tls_error error=NO_RENEGOTIATION`.
- 0-RTT: a TLS 1.3 session resumed with early data (`s_client -sess_in -early_data FILE`; the
  saved session is given max_early_data, as if the ticket had allowed it, or OpenSSL sends none)
  is resumed with the early data rejected, and those bytes never reach the backend.
- Oversized records (length 16384 + 2048 + 1): as the first record, in place of the TLS 1.2
  client's second flight, and after a TLS 1.3 handshake: record_overflow (22) each time;
  `error=ENCRYPTED_LENGTH_TOO_LONG`.
- 64 KiB ClientHellos (hand-made, over four or five records): a 64 KiB SNI, ALPN list or extension
  list. On a listener without client certificates BoringSSL takes hellos up to 16 KiB: illegal_parameter
  (47), `EXCESSIVE_MESSAGE_SIZE`. With `verify_client` the bound is BoringSSL's max_cert_list
  (100 KiB), so the hello is parsed: the SNI gets unrecognized_name (112), the ALPN list
  no_application_protocol (120), 64 KiB of unknown extensions is served and a 100 KiB+ hello refused.
- Client certificate chains of 100 certificates with `verify_client = "required"` (`s_client -cert
  leaf -cert_chain chain.pem`): from an unknown CA refused (unknown_ca, 48,
  `CERTIFICATE_VERIFY_FAILED`), TLS 1.2 and 1.3; one that chains to the client CA must be either
  refused in the handshake or relayed, never cut after it.
"""
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

import backends
import certs
import harness
import tlsabuse
import tlsclient

NAME = 'mail.example.test'
GREETING = b'* OK ready\r\n'
CHAIN_LENGTH = 100


def figure(text):
    print(f'FIGURE: {text}', file=sys.stderr, flush=True)


class SClientSession:
    """`openssl s_client` with its stdin held open: wait for a pattern in its output, type a line,
    wait for it to exit. The output (stdout and stderr together) is in .text."""

    def __init__(self, port, args):
        self.proc = harness.register_process(subprocess.Popen(
            ['openssl', 's_client', '-connect', f'127.0.0.1:{port}', '-servername', NAME, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b''):
            with self._lock:
                self._buf += chunk

    @property
    def text(self):
        with self._lock:
            return self._buf.decode(errors='replace')

    def wait_output(self, needle, timeout=10.0):
        """True once needle is in the output; False when s_client exited or the time is up first."""
        return bool(harness.wait_until(
            lambda: needle in self.text or (self.proc.poll() is not None and not self._reader.is_alive()),
            timeout * harness.time_scale())) and needle in self.text

    def type(self, line):
        try:
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def wait_exit(self, timeout=10.0):
        """Exit code, or None when it was still running after timeout (then it is stopped)."""
        try:
            return self.proc.wait(timeout * harness.time_scale())
        except subprocess.TimeoutExpired:
            return None
        finally:
            self._reader.join(timeout=5)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.wait_exit(5) is None:
            self.proc.kill()
            self.proc.wait(5)


class TlsAbuseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.cpki = certs.get_client_pki()
        cls.backend = backends.GreetingEchoBackend(greeting=GREETING)
        cls.addClassCleanup(cls.backend.close)
        cls.port = {name: harness.free_port() for name in ('plain', 'mtls')}
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': cls.pki.mail.cert, 'key': cls.pki.mail.key},
            listeners=[
                {'name': 'plain', 'listen': f'127.0.0.1:{cls.port["plain"]}', 'protocol': 'imap',
                 'backend': cls.backend.address},
                {'name': 'mtls', 'listen': f'127.0.0.1:{cls.port["mtls"]}', 'protocol': 'imap',
                 'backend': cls.backend.address,
                 'tls': {'client_ca': cls.cpki.ca_cert, 'verify_client': 'required'}}]), 'tls-abuse')
        # The bystander: established before every abuse, it must keep echoing after each.
        cls.bystander = tlsclient.tls_connect(cls.port['plain'], servername=NAME, source='127.0.0.2')
        cls.addClassCleanup(cls.bystander.close)
        if tlsclient.read_line(cls.bystander) != GREETING:
            raise AssertionError('the bystander session got no greeting')
        cls.bystander_rounds = 0

    def setUp(self):
        self.mark = self.tf.mark()
        self.backend_count = self.backend.count()

    def assert_nothing_else_changed(self, backend_reached=False):
        cls = type(self)
        cls.bystander_rounds += 1
        line = b'a%d NOOP bystander\r\n' % cls.bystander_rounds
        self.assertEqual(tlsclient.echo_roundtrip(cls.bystander, line), line,
                         'the session established before the abuse stopped echoing')
        self.assertTrue(self.tf.running(), 'tlsfront is no longer running:\n' + self.tf.tail())
        if not backend_reached:
            self.assertEqual(self.backend.count(), self.backend_count, 'a refused client reached the backend')

    def close_line(self, listener, **kv):
        """The close line of the abusive connection (the bystander stays open, so it is the only
        close on that listener since setUp)."""
        return self.tf.wait_for('close', since=self.mark, listener=listener, timeout=10 * harness.time_scale(), **kv)

    def assert_refused(self, rec, reason, error):
        self.assertEqual(rec.get('reason'), reason, rec)
        self.assertEqual(rec.get('error'), error, rec)
        self.assertEqual(rec.get('bytes_in'), '0', rec)

    # -- renegotiation -------------------------------------------------------------------------
    def test_tls12_client_renegotiation_refused(self):
        s = SClientSession(self.port['plain'], ['-tls1_2'])
        try:
            self.assertTrue(s.wait_output('* OK ready'), s.text[-3000:])
            s.type(b'R\n')  # s_client: renegotiate
            s.wait_exit(10)
        finally:
            s.close()
        self.assertIn('RENEGOTIATING', s.text)
        self.assertRegex(s.text, r'alert no renegotiation|alert number 100', s.text[-2000:])
        rec = self.close_line('plain')
        self.assertEqual(rec.get('tls'), 'TLSv1.2', rec)
        self.assertEqual(rec.get('reason'), 'tls_error', rec)
        self.assertEqual(rec.get('error'), 'NO_RENEGOTIATION', rec)
        self.assert_nothing_else_changed(backend_reached=True)
        figure(f'TLS 1.2 renegotiation: alert 100 (no_renegotiation), close reason={rec["reason"]} '
               f'error={rec["error"]} bytes_in={rec.get("bytes_in")}')

    # -- 0-RTT ---------------------------------------------------------------------------------
    def test_early_data_rejected_and_not_relayed(self):
        work = harness.new_dir('early-data')
        session, allowed = os.path.join(work, 'session.pem'), os.path.join(work, 'session-0rtt.pem')
        early = os.path.join(work, 'early.txt')
        marker = b'e1 EARLY-DATA-MUST-NOT-ARRIVE\r\n'
        with open(early, 'wb') as f:
            f.write(marker)
        first = SClientSession(self.port['plain'], ['-tls1_3', '-sess_out', session])
        try:  # the tickets come before the backend's greeting: once it is shown, they are saved
            self.assertTrue(first.wait_output('* OK ready'), first.text[-3000:])
        finally:
            first.close()
        with open(session) as f:
            original = f.read()
        with open(allowed, 'w') as f:
            f.write(tlsabuse.session_with_max_early_data(original, 16384))
        mark = self.tf.mark()
        index = self.backend.count()
        second = SClientSession(self.port['plain'], ['-sess_in', allowed, '-early_data', early])
        try:
            self.assertTrue(second.wait_output('* OK ready'), second.text[-3000:])
        finally:
            second.close()
        self.assertIn('Reused, TLSv1.3', second.text, 'the session was not resumed: no 0-RTT was possible')
        self.assertIn('Early data was rejected', second.text, second.text[-3000:])
        conn = self.backend.wait_conn(index)
        self.assertTrue(conn.finished.wait(10 * harness.time_scale()), 'the backend connection did not end')
        self.assertEqual(bytes(conn.received), b'', 'early data (or anything) reached the backend')
        rec = self.tf.wait_for('close', since=mark, listener='plain')
        self.assertEqual(rec.get('reason'), 'done', rec)
        self.assertEqual(rec.get('bytes_in'), '0', rec)
        self.assert_nothing_else_changed(backend_reached=True)
        figure(f'0-RTT: {len(marker)} early-data bytes offered on a resumed TLS 1.3 session: rejected, '
               f'backend received {len(conn.received)} bytes, close reason={rec["reason"]} bytes_in={rec["bytes_in"]}')

    # -- oversized records ---------------------------------------------------------------------
    def test_oversized_first_record(self):
        with socket.create_connection(('127.0.0.1', self.port['plain']), timeout=10) as s:
            s.sendall(tlsabuse.record_header(tlsabuse.CONTENT_HANDSHAKE, tlsabuse.MAX_CIPHERTEXT + 1, b'\x03\x01')
                      + b'\x01' * 64)
            data, how = tlsabuse.read_plaintext_answer(s)
        self.assertEqual(tlsabuse.plaintext_alert(data), (2, tlsabuse.ALERT_RECORD_OVERFLOW), f'{data!r} ({how})')
        rec = self.close_line('plain')
        self.assert_refused(rec, 'handshake_failed', 'ENCRYPTED_LENGTH_TOO_LONG')
        self.assert_nothing_else_changed()
        figure(f'record of {tlsabuse.MAX_CIPHERTEXT + 1} bytes as the first record: fatal alert '
               f'{tlsabuse.ALERT_RECORD_OVERFLOW}, close reason={rec["reason"]} error={rec["error"]}')

    def test_oversized_record_in_place_of_the_tls12_client_flight(self):
        """The TLS 1.2 client's ClientKeyExchange/ChangeCipherSpec/Finished are withheld and a
        record too long for any cipher is sent instead: the server is still in clear text."""
        ctx = tlsclient.client_context(max_version=ssl.TLSVersion.TLSv1_2)
        b = tlsclient.BioTls(self.port['plain'], servername=NAME, ctx=ctx)
        try:
            withheld = self._withhold_second_flight(b)
            b.sock.sendall(tlsabuse.record_header(tlsabuse.CONTENT_HANDSHAKE, tlsabuse.MAX_CIPHERTEXT + 1)
                           + b'\x00' * 64)
            data, how = tlsabuse.read_plaintext_answer(b.sock)
        finally:
            b.close()
        self.assertEqual(tlsabuse.plaintext_alert(data), (2, tlsabuse.ALERT_RECORD_OVERFLOW), f'{data!r} ({how})')
        rec = self.close_line('plain')
        self.assert_refused(rec, 'handshake_failed', 'ENCRYPTED_LENGTH_TOO_LONG')
        self.assert_nothing_else_changed()
        figure(f'record of {tlsabuse.MAX_CIPHERTEXT + 1} bytes instead of the TLS 1.2 client flight '
               f'({withheld} bytes withheld): fatal alert {tlsabuse.ALERT_RECORD_OVERFLOW}, '
               f'close reason={rec["reason"]} error={rec["error"]}')

    @staticmethod
    def _withhold_second_flight(b):
        """Run a TLS 1.2 handshake up to the client's second flight; returns its size (not sent)."""
        deadline = time.monotonic() + 10 * harness.time_scale()
        hello_sent = False
        while True:
            try:
                b.obj.do_handshake()
                raise AssertionError('the handshake completed without the client flight')
            except ssl.SSLWantReadError:
                out = b.outgoing.read()
                if not hello_sent:
                    b.sock.sendall(out)
                    hello_sent = True
                elif out:
                    return len(out)
                b._fill(deadline)

    def test_oversized_record_after_tls13_handshake(self):
        b = tlsclient.BioTls(self.port['plain'], servername=NAME)
        try:
            b.handshake()
            self.assertEqual(b.obj.version(), 'TLSv1.3')
            greeting, _ = b.read_until_close(want=len(GREETING), timeout=10 * harness.time_scale())
            self.assertEqual(greeting, GREETING)
            b.sock.sendall(tlsabuse.record_header(tlsabuse.CONTENT_APPLICATION_DATA, tlsabuse.MAX_CIPHERTEXT + 1)
                           + b'\x00' * 64)
            try:
                data, how = b.read_until_close(timeout=10 * harness.time_scale())
            except ssl.SSLError as e:  # the server's (encrypted) alert, decrypted by the client
                data, how = b'', f'ssl_error:{e.reason}'
        finally:
            b.close()
        self.assertEqual(how, 'ssl_error:TLSV1_ALERT_RECORD_OVERFLOW', f'{data!r}')
        rec = self.close_line('plain')
        self.assertEqual(rec.get('tls'), 'TLSv1.3', rec)
        self.assert_refused(rec, 'tls_error', 'ENCRYPTED_LENGTH_TOO_LONG')
        self.assert_nothing_else_changed(backend_reached=True)
        figure(f'record of {tlsabuse.MAX_CIPHERTEXT + 1} bytes after a TLS 1.3 handshake: client read {how}, '
               f'close reason={rec["reason"]} error={rec["error"]}')

    # -- 64 KiB ClientHellos -------------------------------------------------------------------
    def send_client_hello(self, listener, hello):
        """Send a hand-made hello (cut into records) and read the answer: (records sent, bytes, how)."""
        records = tlsabuse.handshake_records(hello)
        with socket.create_connection(('127.0.0.1', self.port[listener]), timeout=10) as s:
            sent = tlsabuse.send_records_until_answered(s, records)
            data, how = tlsabuse.read_plaintext_answer(s, timeout=3)
        return len(records), sent, data, how

    def assert_hello_refused(self, listener, hello, alert, error, what, min_records=4):
        total, sent, data, how = self.send_client_hello(listener, hello)
        got_alert = tlsabuse.plaintext_alert(data)
        rec = self.close_line(listener)
        figure(f'{what}: ClientHello of {len(hello)} bytes in {total} records ({sent} sent before the answer) '
               f'on listener {listener}: alert {got_alert[1] if got_alert else None} (want {alert}), close '
               f'reason={rec.get("reason")} error={rec.get("error")}')
        self.assertGreaterEqual(total, min_records, 'the hello should span several records')
        self.assertEqual(got_alert, (2, alert), f'{what}: {data[:64]!r} ({how})')
        self.assertEqual(rec.get('reason'), 'handshake_failed', rec)
        if callable(error):
            self.assertTrue(error(rec.get('error')), f'{what}: the close line must name the cause: {rec}')
        else:
            self.assertEqual(rec.get('error'), error, f'{what}: the close line must name the cause: {rec}')
        self.assert_nothing_else_changed()

    @staticmethod
    def big_sni():
        return tlsabuse.client_hello(sni=b'a' * 65000)

    @staticmethod
    def big_alpn():
        return tlsabuse.client_hello(alpn=[b'p%05d' % i for i in range(65000 // 7)])

    @staticmethod
    def big_extension_list(count=16000):
        return tlsabuse.client_hello(extra_extensions=[tlsabuse.extension(1000 + i, b'') for i in range(count)])

    def test_64k_sni_refused(self):
        self.assert_hello_refused('plain', self.big_sni(), tlsabuse.ALERT_ILLEGAL_PARAMETER,
                                  'EXCESSIVE_MESSAGE_SIZE', '64 KiB SNI')

    def test_64k_alpn_list_refused(self):
        self.assert_hello_refused('plain', self.big_alpn(), tlsabuse.ALERT_ILLEGAL_PARAMETER,
                                  'EXCESSIVE_MESSAGE_SIZE', '64 KiB ALPN list')

    def test_64k_extension_list_refused(self):
        self.assert_hello_refused('plain', self.big_extension_list(), tlsabuse.ALERT_ILLEGAL_PARAMETER,
                                  'EXCESSIVE_MESSAGE_SIZE', '64 KiB extension list')

    def test_64k_alpn_list_on_client_certificate_listener(self):
        """verify_client listeners bound a client's chain to 16 KiB (tls/server_context.cpp), which
        bounds their ClientHello the same way as everywhere else (BoringSSL's own bound there
        would be its 100 KiB certificate list)."""
        self.assert_hello_refused('mtls', self.big_alpn(), tlsabuse.ALERT_ILLEGAL_PARAMETER,
                                  'EXCESSIVE_MESSAGE_SIZE', '64 KiB ALPN list (verify_client)')

    def test_64k_sni_on_client_certificate_listener(self):
        self.assert_hello_refused('mtls', self.big_sni(), tlsabuse.ALERT_ILLEGAL_PARAMETER,
                                  'EXCESSIVE_MESSAGE_SIZE', '64 KiB SNI (verify_client)')

    def test_overlong_sni_names_the_alert(self):
        """BoringSSL refuses a host name over 255 bytes with unrecognized_name but queues no error
        code for it, so the close line names the alert tlsfront sent."""
        self.assert_hello_refused('plain', tlsabuse.client_hello(sni=b'a' * 300), tlsabuse.ALERT_UNRECOGNIZED_NAME,
                                  'unrecognized name', '300-byte SNI', min_records=1)

    # -- client certificate chains ---------------------------------------------------------------
    @classmethod
    def chain(cls, trusted):
        attr = '_trusted_chain' if trusted else '_untrusted_chain'
        if not hasattr(cls, attr):
            if trusted:
                root_cert, root_key = cls.cpki.ca_cert, cls.cpki.ca_key
            else:
                rogue = certs.Pki(harness.new_dir('rogue-ca'), ca_cn='rogue client CA', intermediate=False)
                root_cert, root_key = rogue.ca_cert, rogue.ca_key
            setattr(cls, attr, tlsabuse.long_client_chain(
                harness.new_dir('chain-trusted' if trusted else 'chain-rogue'), root_cert, root_key,
                CHAIN_LENGTH, 'deep-trusted' if trusted else 'deep-rogue'))
        return getattr(cls, attr)

    def chain_session(self, chain, version):
        s = SClientSession(self.port['mtls'], [version, '-cert', chain.leaf_cert, '-key', chain.leaf_key,
                                               '-cert_chain', chain.chain_file])
        try:
            greeted = s.wait_output('* OK ready')
            if not greeted:
                s.wait_exit(5)
        finally:
            s.close()
        return greeted, s.text

    def test_100_certificate_chain_from_unknown_ca_refused(self):
        """Refused in the handshake: over the 16 KiB chain bound (the client, still writing its
        chain, sees its socket closed rather than the alert)."""
        chain = self.chain(trusted=False)
        self.assertEqual(chain.certificates, CHAIN_LENGTH)
        for version in ('-tls1_3', '-tls1_2'):
            with self.subTest(version=version):
                self.mark = self.tf.mark()
                greeted, text = self.chain_session(chain, version)
                self.assertFalse(greeted, 'a chain from an unknown CA was relayed')
                rec = self.close_line('mtls')
                self.assert_refused(rec, 'handshake_failed', 'EXCESSIVE_MESSAGE_SIZE')
                self.assert_nothing_else_changed()
                figure(f'client chain of {chain.certificates} certificates ({chain.der_bytes} bytes DER) from an '
                       f'unknown CA, {version}: refused, close reason={rec["reason"]} error={rec["error"]}')

    def test_short_chain_from_unknown_ca_refused(self):
        """Within the bound, a chain to an unknown CA gets alert 48 (unknown_ca)."""
        chain = tlsabuse.long_client_chain(harness.new_dir('chain-short-rogue'),
                                           *self.rogue_ca(), 3, 'short-rogue')
        self.mark = self.tf.mark()
        greeted, text = self.chain_session(chain, '-tls1_3')
        self.assertFalse(greeted)
        self.assertRegex(text, r'alert unknown ca|alert number 48', text[-2000:])
        rec = self.close_line('mtls')
        self.assert_refused(rec, 'handshake_failed', 'CERTIFICATE_VERIFY_FAILED')
        self.assert_nothing_else_changed()

    @classmethod
    def rogue_ca(cls):
        if not hasattr(cls, '_rogue'):
            rogue = certs.Pki(harness.new_dir('rogue-ca-short'), ca_cn='rogue client CA', intermediate=False)
            cls._rogue = (rogue.ca_cert, rogue.ca_key)
        return cls._rogue

    def test_100_certificate_chain_to_the_client_ca_refused_or_relayed(self):
        """A chain of 100 that does verify (BoringSSL's default depth limit is 100): refused in the
        handshake or relayed cleanly are both acceptable; a session cut after the handshake is not."""
        chain = self.chain(trusted=True)
        self.assertEqual(chain.certificates, CHAIN_LENGTH)
        for version in ('-tls1_2', '-tls1_3'):
            with self.subTest(version=version):
                self.mark = self.tf.mark()
                count = self.backend.count()
                greeted, text = self.chain_session(chain, version)
                rec = self.close_line('mtls')
                figure(f'client chain of {chain.certificates} certificates ({chain.der_bytes} bytes DER) to the '
                       f'client CA, {version}: greeting {"seen" if greeted else "not seen"}, close '
                       f'reason={rec.get("reason")} error={rec.get("error")} client_cn={rec.get("client_cn")}')
                if greeted:
                    self.assertEqual(rec.get('reason'), 'done', rec)
                    self.assertEqual(rec.get('client_cn'), 'deep-trusted', rec)
                else:
                    self.assertEqual(rec.get('reason'), 'handshake_failed',
                                     f'the chain was accepted, then the session was cut: {rec}')
                    self.assertEqual(self.backend.count(), count, 'a refused client reached the backend')
                self.assertTrue(self.tf.running())
                self.backend_count = self.backend.count()
                self.assert_nothing_else_changed()


if __name__ == '__main__':
    unittest.main()
