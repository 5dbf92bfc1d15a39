"""PROXY protocol end to end (README "PROXY protocol").

- DovecotProxyTest: a real Dovecot 2.3 with `haproxy = yes` listeners and disable_plaintext_auth:
  a login through tlsfront is secured only with the v2 SSL TLV ("dovecot", "minimal", the default);
  v1 and "none" get LOGINDISABLED. Dovecot's log shows the client's address (the test binds it to
  127.0.0.x) and port from the header, the SNI as local_name, and "secured".
- HeaderDumpTest: a Python backend that records the raw header: one piece, before any client
  byte; addresses; TLVs (UNIQUE_ID = conn of the close line, AUTHORITY = SNI, ALPN, SSL flags,
  VERSION, CIPHER) per profile; v1 line.
- InboundProxyTest: `accept_proxy_from` (a balancer in front): v1/v2 headers from a trusted
  source replace the client address in the log and in the header to the backend; malformed header,
  silent trusted source, header from an untrusted source.
"""
import socket
import ssl
import unittest

import backends
import certs
import dovecot
import harness
import mailclients
import proxyproto
import tlsclient
from mailclients import NAME


def client_ctx(cafile, alpn=None, max_version=None):
    ctx = ssl.create_default_context(cafile=cafile)  # chain + host name verification
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def host_port(text):
    host, _, port = text.rpartition(':')
    return host, int(port)


class DovecotProxyTest(unittest.TestCase):
    """tlsfront -> Dovecot's haproxy = yes listeners, one tlsfront listener per variant."""

    VARIANTS = {  # listener name: (protocol, Dovecot port attribute, proxy_protocol, proxy_protocol_tlvs)
        'imaps_v2': ('imap', 'imap_proxy_port', 'v2', 'dovecot'),
        'pop3s_v2': ('pop3', 'pop3_proxy_port', 'v2', 'dovecot'),
        'imaps_v1': ('imap', 'imap_proxy_port', 'v1', None),
        'pop3s_v1': ('pop3', 'pop3_proxy_port', 'v1', None),
        'imaps_minimal': ('imap', 'imap_proxy_port', 'v2', 'minimal'),
        'imaps_default': ('imap', 'imap_proxy_port', 'v2', None),  # IMAP's default: what Dovecot reads
        'pop3s_none': ('pop3', 'pop3_proxy_port', 'v2', 'none'),
        'imaps_none': ('imap', 'imap_proxy_port', 'v2', 'none'),
    }

    @classmethod
    def setUpClass(cls):
        why = dovecot.available()
        if why:
            raise unittest.SkipTest(why)
        cls.pki = certs.get_pki()
        cls.dovecot = dovecot.Dovecot(instance='tlsfront-it-dovecot-pp').start()
        cls.addClassCleanup(cls.dovecot.stop)
        cls.port = {}
        listeners = []
        for name, (protocol, attr, version, tlvs) in cls.VARIANTS.items():
            cls.port[name] = harness.free_port()
            listeners.append({'name': name, 'listen': f'127.0.0.1:{cls.port[name]}', 'protocol': protocol,
                              'backend': f'127.0.0.1:{getattr(cls.dovecot, attr)}', 'proxy_protocol': version,
                              'proxy_protocol_tlvs': tlvs})
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': cls.pki.mail.cert, 'key': cls.pki.mail.key}, listeners=listeners), 'pp-dovecot')

    def curl(self, listener, source):
        scheme = 'imaps' if listener.startswith('imap') else 'pop3s'
        return mailclients.curl(self.pki.ca_cert, self.port[listener], scheme, '/', interface=source)

    def session(self, listener, source, since):
        """(close line, Dovecot service, client port) of the connection from source on that listener;
        the client port is what the PROXY header carried, so it finds Dovecot's line too."""
        rec = self.tf.wait_for('close', since=since, listener=listener,
                               client=lambda c: bool(c) and c.startswith(source + ':'))
        service = 'imap' if listener.startswith('imap') else 'pop3'
        return rec, service, host_port(rec['client'])[1]

    def assert_secured_login(self, listener, source, local_name=NAME):
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        rc, out, err = self.curl(listener, source)
        self.assertEqual(rc, 0, f'curl through {listener}: {err}\ndovecot log:\n{self.dovecot.log(dmark)}')
        self.assertIn('INBOX' if listener.startswith('imap') else '1 ', out)
        rec, service, client_port = self.session(listener, source, mark)
        self.assertEqual(rec.get('reason'), 'done', rec)
        login = self.dovecot.wait_login(service, client_port, since=dmark)
        self.assertEqual(login.get('user'), dovecot.USER, login['line'])
        self.assertEqual(login.get('rip'), source, login['line'])           # from the header
        self.assertEqual(login.get('real_rip'), '127.0.0.1', login['line'])  # tlsfront's socket
        self.assertEqual(login.get('lport'), str(self.port[listener]), login['line'])
        self.assertEqual(login.get('local_name'), local_name, login['line'])  # AUTHORITY = SNI
        self.assertTrue(login['secured'], login['line'])
        return login

    def test_imap_v2_dovecot_profile_login_secured(self):
        self.assert_secured_login('imaps_v2', '127.0.0.5')

    def test_pop3_v2_dovecot_profile_login_secured(self):
        self.assert_secured_login('pop3s_v2', '127.0.0.9')

    def test_imap_v2_minimal_profile_login_secured(self):
        """"minimal" has the SSL TLV (secured) but no AUTHORITY (no local_name)."""
        self.assert_secured_login('imaps_minimal', '127.0.0.11', local_name=None)

    def test_imap_v2_default_tlvs_login_secured_with_local_name(self):
        """Without proxy_protocol_tlvs an IMAP listener sends AUTHORITY too: Dovecot learns the SNI."""
        self.assert_secured_login('imaps_default', '127.0.0.12')

    def test_imaplib_v2_select(self):
        """Python imaplib with SNI and verification, bound to 127.0.0.12, through the v2 listener."""
        m = mailclients.imap4_ssl(self.port['imaps_v2'], ssl.create_default_context(cafile=self.pki.ca_cert),
                                  source='127.0.0.12')
        try:
            self.assertEqual(m.login(dovecot.USER, dovecot.PASSWORD)[0], 'OK')
            typ, data = m.select('INBOX', readonly=True)
            self.assertEqual(typ, 'OK')
            self.assertGreaterEqual(int(data[0]), 1)
        finally:
            mailclients.quietly(m.logout)

    def raw_session(self, listener, source, lines):
        """TLS from source; read the greeting, send each line and read one reply line each."""
        s = tlsclient.tls_connect(self.port[listener], servername=NAME, source=source,
                                  ctx=client_ctx(self.pki.ca_cert))
        try:
            greeting = tlsclient.read_line(s)
            replies = []
            for line in lines:
                s.sendall(line)
                tag = line.split(b' ', 1)[0] + b' '
                for _ in range(20):  # IMAP: untagged lines up to the tagged one; POP3: one line
                    reply = tlsclient.read_line(s)
                    replies.append(reply)
                    if not reply or not listener.startswith('imap') or reply.startswith(tag):
                        break
            return s.getsockname()[1], greeting, replies
        finally:
            s.close()

    def assert_login_refused_imap(self, listener, source):
        mark, dmark = self.tf.mark(), self.dovecot.log_mark()
        rc, out, err = self.curl(listener, source)
        self.assertEqual(rc, 67, f'expected curl exit 67 (login denied) through {listener}: rc={rc} {err}')
        port, greeting, replies = self.raw_session(listener, source, [b'a LOGIN testuser testpass\r\n'])
        self.assertIn(b'LOGINDISABLED', greeting)
        self.assertTrue(any(r.startswith(b'a NO [PRIVACYREQUIRED]') for r in replies), replies)
        login = self.dovecot.wait_login('imap', port, since=dmark, what='Login failed|Disconnected')
        self.assertEqual(login.get('rip'), source, login['line'])  # the header still names the client
        self.assertFalse(login['secured'], login['line'])
        self.tf.wait_for('close', since=mark, listener=listener, client=f'{source}:{port}')

    def assert_login_refused_pop3(self, listener, source):
        rc, out, err = self.curl(listener, source)
        self.assertEqual(rc, 67, f'expected curl exit 67 (login denied) through {listener}: rc={rc} {err}')
        port, greeting, replies = self.raw_session(listener, source, [b'USER testuser\r\n'])
        self.assertTrue(greeting.startswith(b'+OK'), greeting)
        self.assertTrue(replies[0].startswith(b'-ERR [AUTH] Plaintext authentication disallowed'), replies)

    def test_imap_v1_login_refused(self):
        self.assert_login_refused_imap('imaps_v1', '127.0.0.13')

    def test_pop3_v1_login_refused(self):
        self.assert_login_refused_pop3('pop3s_v1', '127.0.0.14')

    def test_imap_v2_none_profile_login_refused(self):
        self.assert_login_refused_imap('imaps_none', '127.0.0.15')

    def test_pop3_v2_none_profile_login_refused(self):
        self.assert_login_refused_pop3('pop3s_none', '127.0.0.16')

    def test_direct_plaintext_login_refused(self):
        """Control: Dovecot itself refuses cleartext from a non-local address on its plain listener,
        so the secured logins above come from the SSL TLV."""
        with socket.create_connection(('127.0.0.1', self.dovecot.imap_port), timeout=5,
                                      source_address=('127.0.0.17', 0)) as s:
            s.settimeout(5)
            greeting = s.recv(4096)
        self.assertIn(b'LOGINDISABLED', greeting)


class HeaderDumpTest(unittest.TestCase):
    """The raw header tlsfront writes, recorded by a Python backend."""

    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.dump = {}
        cls.port = {}
        variants = {  # name: (protocol, proxy_protocol, proxy_protocol_tlvs)
            'dovecot': ('imap', 'v2', 'dovecot'),
            'minimal': ('pop3', 'v2', 'minimal'),
            'default_pop3': ('pop3', 'v2', None),
            'default_smtp': ('smtp', 'v2', None),
            'none': ('smtp', 'v2', 'none'),
            'postfix': ('smtp', 'v2', 'postfix'),
            'v1': ('imap', 'v1', None),
        }
        listeners = []
        for name, (protocol, version, tlvs) in variants.items():
            cls.dump[name] = backends.ProxyDumpBackend()
            cls.addClassCleanup(cls.dump[name].close)
            cls.port[name] = harness.free_port()
            listeners.append({'name': name, 'listen': f'127.0.0.1:{cls.port[name]}', 'protocol': protocol,
                              'backend': cls.dump[name].address, 'proxy_protocol': version,
                              'proxy_protocol_tlvs': tlvs})
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            tls={'cert': cls.pki.mail.cert, 'key': cls.pki.mail.key}, listeners=listeners), 'pp-dump')

    def exchange(self, name, source, servername=NAME, alpn=None, max_version=None):
        """Connect from source, wait for the greeting (sending nothing before it), send one line,
        read the echo, close. Returns (ssl socket facts, backend Conn, Header, close record)."""
        dump = self.dump[name]
        index = dump.count()
        mark = self.tf.mark()
        ctx = client_ctx(self.pki.ca_cert, alpn=alpn, max_version=max_version)
        ctx.check_hostname = servername is not None  # no SNI: the chain is still verified
        s = tlsclient.tls_connect(self.port[name], servername=servername, source=source, ctx=ctx)
        try:
            facts = {'port': s.getsockname()[1], 'version': s.version(), 'alpn': s.selected_alpn_protocol(),
                     'cipher': s.cipher()[0]}
            greeting = tlsclient.read_line(s)
            self.assertEqual(greeting, b'* OK ready\r\n')
            self.assertEqual(tlsclient.echo_roundtrip(s, b'a NOOP\r\n'), b'a NOOP\r\n')
        finally:
            s.close()
        conn, header = dump.wait_header(index)
        rec = self.tf.wait_for('close', since=mark, listener=name, client=f'{source}:{facts["port"]}')
        # one piece, before any client byte, and the client's line right behind it
        self.assertEqual(bytes(conn.first_chunk), conn.header_bytes,
                         'the first read of the backend was not exactly the header')
        self.assertTrue(conn.received.startswith(conn.header_bytes + b'a NOOP\r\n'), bytes(conn.received[:200]))
        return facts, conn, header, rec

    def assert_addresses(self, header, source, facts, name):
        self.assertEqual(header.src, (source, facts['port']), header.describe())
        self.assertEqual(header.dst, ('127.0.0.1', self.port[name]), header.describe())

    def test_v2_dovecot_profile_tls13_alpn(self):
        facts, conn, h, rec = self.exchange('dovecot', '127.0.0.5', alpn=['imap'])
        self.assertEqual(facts['alpn'], 'imap')
        self.assertEqual((h.version, h.command, h.family), (2, 1, 0x11), h.describe())
        self.assert_addresses(h, '127.0.0.5', facts, 'dovecot')
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_UNIQUE_ID), rec['conn'].encode(), f'{h.describe()}\n{rec}')
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_AUTHORITY), NAME.encode(), h.describe())
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_ALPN), b'imap', h.describe())
        self.assertIsNotNone(h.ssl, h.describe())
        self.assertEqual(h.ssl['client'], proxyproto.PP2_CLIENT_SSL, h.describe())  # no client certificate
        self.assertEqual(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_VERSION), b'TLSv1.3', h.describe())
        self.assertEqual(facts['version'], 'TLSv1.3')
        self.assertEqual(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_CIPHER), rec['cipher'].encode(), h.describe())
        self.assertIsNone(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_CN), h.describe())
        self.assertLessEqual(h.size, 1500)

    def test_v2_dovecot_profile_tls12_no_alpn_no_sni(self):
        facts, conn, h, rec = self.exchange('dovecot', '127.0.0.6', servername=None,
                                            max_version=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(facts['version'], 'TLSv1.2')
        self.assert_addresses(h, '127.0.0.6', facts, 'dovecot')
        self.assertEqual(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_VERSION), b'TLSv1.2', h.describe())
        self.assertEqual(h.ssl['client'] & proxyproto.PP2_CLIENT_SSL, proxyproto.PP2_CLIENT_SSL, h.describe())
        self.assertIsNone(h.tlv(proxyproto.PP2_TYPE_ALPN), f'no ALPN was negotiated: {h.describe()}')
        self.assertFalse(h.tlv(proxyproto.PP2_TYPE_AUTHORITY), f'no SNI was sent: {h.describe()}')
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_UNIQUE_ID), rec['conn'].encode(), h.describe())
        self.assertEqual(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_CIPHER), rec['cipher'].encode(), h.describe())

    def assert_minimal(self, name, source, alpn):
        """SSL (+ VERSION) and UNIQUE_ID only, even with SNI and ALPN; <= 232 bytes."""
        facts, conn, h, rec = self.exchange(name, source, alpn=[alpn])
        self.assertEqual(facts['alpn'], alpn)
        self.assert_addresses(h, source, facts, name)
        self.assertEqual(sorted(h.types()), [proxyproto.PP2_TYPE_UNIQUE_ID, proxyproto.PP2_TYPE_SSL], h.describe())
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_UNIQUE_ID), rec['conn'].encode(), h.describe())
        self.assertEqual(h.ssl['client'], proxyproto.PP2_CLIENT_SSL, h.describe())
        self.assertEqual(list(h.ssl['subs']), [proxyproto.PP2_SUBTYPE_SSL_VERSION], h.describe())
        self.assertEqual(h.ssl_sub(proxyproto.PP2_SUBTYPE_SSL_VERSION), b'TLSv1.3', h.describe())
        self.assertLessEqual(h.size, 232)

    def test_v2_minimal_profile(self):
        self.assert_minimal('minimal', '127.0.0.7', 'pop3')

    def test_v2_smtp_default_is_minimal(self):
        self.assert_minimal('default_smtp', '127.0.0.13', 'smtp')

    def test_v2_pop3_default_is_what_dovecot_reads(self):
        """ALPN, AUTHORITY (local_name), UNIQUE_ID, SSL + VERSION; no cipher or CN sub-TLVs."""
        facts, conn, h, rec = self.exchange('default_pop3', '127.0.0.14', alpn=['pop3'])
        self.assertEqual(sorted(h.types()), sorted([proxyproto.PP2_TYPE_ALPN, proxyproto.PP2_TYPE_AUTHORITY,
                                                    proxyproto.PP2_TYPE_UNIQUE_ID, proxyproto.PP2_TYPE_SSL]),
                         h.describe())
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_AUTHORITY), NAME.encode(), h.describe())
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_ALPN), b'pop3', h.describe())
        self.assertEqual(list(h.ssl['subs']), [proxyproto.PP2_SUBTYPE_SSL_VERSION], h.describe())
        self.assertLessEqual(h.size, 1500)

    def test_v2_none_and_postfix_profiles_have_no_tlvs(self):
        for name, source in (('none', '127.0.0.8'), ('postfix', '127.0.0.9')):
            with self.subTest(profile=name):
                facts, conn, h, rec = self.exchange(name, source, alpn=['smtp'])
                self.assert_addresses(h, source, facts, name)
                self.assertEqual(h.tlvs, [], h.describe())
                self.assertEqual(h.size, 28)  # 16 + 2 x IPv4 + 2 ports

    def test_v1_line(self):
        facts, conn, h, rec = self.exchange('v1', '127.0.0.10', alpn=['imap'])
        self.assertEqual(conn.header_bytes,
                         f'PROXY TCP4 127.0.0.10 127.0.0.1 {facts["port"]} {self.port["v1"]}\r\n'.encode())


class InboundProxyTest(unittest.TestCase):
    """accept_proxy_from = ["127.0.0.7/32"]: a balancer's header before the ClientHello."""

    TRUSTED, UNTRUSTED = '127.0.0.7', '127.0.0.8'

    @classmethod
    def setUpClass(cls):
        cls.pki = certs.get_pki()
        cls.dump = backends.ProxyDumpBackend()
        cls.addClassCleanup(cls.dump.close)
        cls.port = harness.free_port()
        cls.tf = harness.start_tlsfront(cls, harness.make_config(
            server={'handshake_timeout': '1s'},
            tls={'cert': cls.pki.mail.cert, 'key': cls.pki.mail.key},
            listeners=[{'name': 'imaps_lb', 'listen': f'127.0.0.1:{cls.port}', 'protocol': 'imap',
                        'backend': cls.dump.address, 'proxy_protocol': 'v2', 'proxy_protocol_tlvs': 'dovecot',
                        'accept_proxy_from': [f'{cls.TRUSTED}/32']}]), 'pp-inbound')

    def raw_connect(self, source):
        s = socket.create_connection(('127.0.0.1', self.port), timeout=5, source_address=(source, 0))
        return s, s.getsockname()[1]

    def open_session(self, source, prefix):
        """TLS after prefix; waits for the greeting. Returns (socket, backend connection index)."""
        index = self.dump.count()
        s = tlsclient.tls_connect(self.port, servername=NAME, source=source, prefix=prefix,
                                  ctx=client_ctx(self.pki.ca_cert))
        self.assertEqual(tlsclient.read_line(s), b'* OK ready\r\n')
        return s, index

    def assert_relayed_as(self, prefix, client):
        mark = self.tf.mark()
        s, index = self.open_session(self.TRUSTED, prefix)
        try:
            self.assertEqual(tlsclient.echo_roundtrip(s, b'a NOOP\r\n'), b'a NOOP\r\n')
        finally:
            s.close()
        rec = self.tf.wait_for('close', since=mark, listener='imaps_lb', client=f'{client[0]}:{client[1]}')
        self.assertEqual(rec.get('reason'), 'done', rec)
        conn, h = self.dump.wait_header(index)
        self.assertEqual(h.src, client, h.describe())
        self.assertEqual(h.tlv(proxyproto.PP2_TYPE_UNIQUE_ID), rec['conn'].encode(), h.describe())

    def test_v1_header_from_trusted_source(self):
        self.assert_relayed_as(proxyproto.v1('192.0.2.10', 40000, '198.51.100.1', 993), ('192.0.2.10', 40000))

    def test_v2_header_from_trusted_source(self):
        tlvs = proxyproto.tlv(proxyproto.PP2_TYPE_NOOP, b'\x00' * 4)  # a TLV of the balancer's own: skipped
        self.assert_relayed_as(proxyproto.v2('203.0.113.9', 50001, '198.51.100.1', 993, tlvs),
                               ('203.0.113.9', 50001))

    def test_malformed_header_closes_only_that_connection(self):
        good, index = self.open_session(self.TRUSTED, proxyproto.v1('192.0.2.20', 40020, '198.51.100.1', 993))
        try:
            mark = self.tf.mark()
            backend_before = self.dump.count()
            bad, bad_port = self.raw_connect(self.TRUSTED)
            bad.sendall(b'PROXY TCP4 300.1.2.3 198.51.100.1 40000 993\r\n')
            elapsed, how, n = tlsclient.raw_until_closed(bad, timeout=5)
            bad.close()
            self.assertIn(how, ('eof', 'reset'))
            rec = self.tf.wait_for('close', since=mark, client=f'{self.TRUSTED}:{bad_port}')
            self.assertEqual(rec.get('reason'), 'proxy_header_invalid', rec)
            self.assertTrue(rec.get('error'), f'the close line should say why: {rec}')
            self.assertEqual(self.dump.count(), backend_before, 'a malformed header reached the backend')
            # the session opened before still works
            self.assertEqual(tlsclient.echo_roundtrip(good, b'b NOOP\r\n'), b'b NOOP\r\n')
        finally:
            good.close()

    def test_trusted_source_sending_nothing_times_out(self):
        mark = self.tf.mark()
        s, port = self.raw_connect(self.TRUSTED)
        elapsed, how, n = tlsclient.raw_until_closed(s, timeout=5)
        s.close()
        self.assertIn(how, ('eof', 'reset'), 'not closed within 5 s (handshake_timeout is 1 s)')
        self.assertGreater(elapsed, 0.8)
        rec = self.tf.wait_for('close', since=mark, client=f'{self.TRUSTED}:{port}')
        self.assertEqual(rec.get('reason'), 'proxy_header_timeout', rec)

    def test_header_from_untrusted_source_is_refused(self):
        mark = self.tf.mark()
        backend_before = self.dump.count()
        raw, port = self.raw_connect(self.UNTRUSTED)
        raw.sendall(proxyproto.v1('192.0.2.30', 40030, '198.51.100.1', 993))
        with self.assertRaises((ssl.SSLError, OSError)):
            s = client_ctx(self.pki.ca_cert).wrap_socket(raw, server_hostname=NAME)
            s.recv(100)
        raw.close()
        rec = self.tf.wait_for('close', since=mark, client=f'{self.UNTRUSTED}:{port}')  # the socket's address
        self.assertEqual(rec.get('reason'), 'handshake_failed', rec)
        self.assertEqual(self.dump.count(), backend_before)

    def test_untrusted_source_without_header_is_served(self):
        mark = self.tf.mark()
        s, index = self.open_session(self.UNTRUSTED, b'')
        port = s.getsockname()[1]
        s.close()
        self.tf.wait_for('close', since=mark, client=f'{self.UNTRUSTED}:{port}')
        conn, h = self.dump.wait_header(index)
        self.assertEqual(h.src, (self.UNTRUSTED, port), h.describe())


if __name__ == '__main__':
    unittest.main()
