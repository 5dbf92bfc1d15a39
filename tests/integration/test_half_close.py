"""Half-close, both ways.

Client ends first (TLS close_notify, or a bare TCP FIN): the backend must see EOF while its reply
still reaches the client, followed by tlsfront's close_notify.
Backend ends first (FIN): the client gets close_notify (and a TCP FIN) while the client's data still
reaches the backend until the client ends too.

The client is an ssl.SSLObject over MemoryBIOs, so the test decides exactly what goes on the wire.
"""
import ssl
import unittest

import backends
import certs
import harness
import tlsclient

REPLY_EXTRA = b'R' * (256 * 1024)  # the reply after the half-close is big enough to need several reads


class HalfCloseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = certs.get_pki()
        cls.reply = backends.ReplyAfterEofBackend(extra=REPLY_EXTRA)
        cls.first = backends.CloseFirstBackend(greeting=b'* OK backend says bye first\r\n')
        cls.port_reply = harness.free_port()
        cls.port_first = harness.free_port()
        cfg = harness.make_config(
            tls={'cert': p.global_.cert, 'key': p.global_.key},
            listeners=[{'name': 'reply', 'listen': f'127.0.0.1:{cls.port_reply}', 'protocol': 'imap',
                        'backend': cls.reply.address},
                       {'name': 'first', 'listen': f'127.0.0.1:{cls.port_first}', 'protocol': 'imap',
                        'backend': cls.first.address}])
        def close_backends():
            cls.reply.close()
            cls.first.close()
        cls.addClassCleanup(close_backends)
        cls.tf = harness.start_tlsfront(cls, cfg, 'halfclose')

    def client(self, port, tls_max=None):
        ctx = tlsclient.client_context(max_version=tls_max)
        c = tlsclient.BioTls(port, ctx=ctx, timeout=10 * harness.time_scale())
        c.handshake()
        return c

    def client_ends_first(self, end, tls_max=None):
        mark = self.tf.mark()
        start = self.reply.count()
        c = self.client(self.port_reply, tls_max)
        try:
            payload = backends.random_bytes(100_000, seed=7)
            c.write(payload)
            conn = self.reply.wait_conn(start)
            end(c)
            # The backend answers only after it has read EOF: getting the answer proves both that
            # the EOF was passed on and that data still flows back after the client's half-close.
            data, how = c.read_until_close(timeout=15 * harness.time_scale())
            expected = b'GOT %d\n' % len(payload) + REPLY_EXTRA
            self.assertTrue(conn.eof.wait(5), 'the backend never saw EOF')
            self.assertEqual(bytes(conn.received), payload)
            self.assertEqual(len(data), len(expected), f'reply length {len(data)}, ended by {how}')
            self.assertTrue(data == expected, 'reply bytes differ')
            self.assertEqual(how, 'close_notify', 'after the reply tlsfront must send close_notify')
            rec = self.tf.close_record(c.local_port, since=mark)
            self.assertEqual(rec.get('reason'), 'done', rec)
            self.assertEqual(rec.get('bytes_in'), str(len(payload)), rec)
            self.assertEqual(rec.get('bytes_out'), str(len(expected)), rec)
        finally:
            c.close()

    def test_client_close_notify_tls13(self):
        self.client_ends_first(lambda c: c.send_close_notify())

    def test_client_close_notify_tls12(self):
        self.client_ends_first(lambda c: c.send_close_notify(), tls_max=ssl.TLSVersion.TLSv1_2)

    def test_client_bare_tcp_fin(self):
        self.client_ends_first(lambda c: c.shutdown_tcp_write())

    def test_backend_ends_first(self):
        mark = self.tf.mark()
        start = self.first.count()
        c = self.client(self.port_first)
        try:
            data, how = c.read_until_close(timeout=10 * harness.time_scale())
            self.assertEqual(data, b'* OK backend says bye first\r\n')
            self.assertEqual(how, 'close_notify', 'backend EOF must become close_notify to the client')
            self.assertTrue(c.wait_tcp_eof(5), 'no TCP FIN after the close_notify')
            conn = self.first.wait_conn(start)
            self.assertFalse(conn.eof.is_set(), 'tlsfront closed the backend side too early')
            # the client's direction is still open: its data must reach the backend
            late = b'a LOGOUT\r\n' + b'x' * 50_000
            c.write(late)
            c.send_close_notify()
            self.assertTrue(conn.eof.wait(10 * harness.time_scale()), 'backend never saw the client end')
            self.assertTrue(bytes(conn.received) == late,
                            f'backend got {len(conn.received)} of {len(late)} bytes sent after the close_notify')
            rec = self.tf.close_record(c.local_port, since=mark)
            self.assertEqual(rec.get('reason'), 'done', rec)
            self.assertEqual(rec.get('bytes_in'), str(len(late)), rec)
            self.assertEqual(rec.get('bytes_out'), str(len(data)), rec)
        finally:
            c.close()


if __name__ == '__main__':
    unittest.main()
