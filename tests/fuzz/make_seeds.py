#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/TARGET/ (committed; run
again after changing a parser's input format):
- config: the example config and small configs for each listener form;
- proxy_header: v1 lines (TCP4, TCP6, UNKNOWN) and v2 headers (IPv4 + TLVs, IPv6, LOCAL, UNIX),
  each followed by the start of a ClientHello;
- pre_tls_dialogue: first byte = protocol/mode (0 IMAP, 1 POP3, 2 SMTP required, 3 SMTP optional),
  second = piece size, then a client's session;
- backend_reply: Dovecot, Postfix and error greetings, multi-line EHLO replies;
- client_hello: the first flight of real clients (Python ssl TLS 1.3 and 1.2 with SNI and ALPN,
  openssl s_client, gnutls-cli when installed), captured from a listening socket.
"""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import proxyproto  # noqa: E402

CORPUS = os.path.join(HERE, 'corpus')


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def config_seeds():
    with open(os.path.join(HERE, '..', '..', 'packaging', 'tlsfront.example.toml'), 'rb') as f:
        write('config', 'example.toml', f.read())
    base = ("[tls]\ncert = '/etc/tlsfront/cert.pem'\nkey = '/etc/tlsfront/key.pem'\n"
            "[[listener]]\nname = 'imaps'\nlisten = '0.0.0.0:993'\nprotocol = 'imap'\nbackend = '127.0.0.1:143'\n")
    write('config', 'minimal.toml', base.encode())
    write('config', 'starttls.toml', (base + "[[listener]]\nname = 'mx'\nlisten = '[::]:25'\nprotocol = 'smtp'\n"
                                      "starttls = 'optional'\nbackend = 'unix:/run/smtpd.sock'\n"
                                      "proxy_protocol = 'v2'\nproxy_protocol_tlvs = ['ssl', 'authority']\n").encode())
    write('config', 'server.toml', ("[server]\nworkers = 2\nhandshake_timeout = '5s'\nidle_timeout = '30m'\n"
                                    "user = 'nobody'\nadmin = '127.0.0.1:9100'\nlog_format = 'json'\n" + base +
                                    "accept_proxy_from = ['10.0.0.0/8', '::1/128']\n[listener.tls]\n"
                                    "min_version = '1.3'\nverify_client = 'optional'\nclient_ca = '/ca.pem'\n"
                                    "[[local_name]]\nnames = ['*.example.org']\ncert = '/a.pem'\nkey = '/a.key'\n"
                                    ).encode())


def proxy_header_seeds():
    hello = bytes.fromhex('160301020001') + b'\x00' * 8
    write('proxy_header', 'v1_tcp4', proxyproto.v1('192.0.2.7', 51234, '198.51.100.1', 993) + hello)
    write('proxy_header', 'v1_tcp6', proxyproto.v1('2001:db8::7', 51234, '2001:db8::1', 993) + hello)
    write('proxy_header', 'v1_unknown', b'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n' + hello)
    tlvs = (proxyproto.tlv(proxyproto.PP2_TYPE_ALPN, b'imap') +
            proxyproto.tlv(proxyproto.PP2_TYPE_AUTHORITY, b'mail.example.test') +
            proxyproto.tlv(proxyproto.PP2_TYPE_UNIQUE_ID, b'1f'))
    write('proxy_header', 'v2_tcp4_tlvs', proxyproto.v2('192.0.2.7', 51234, '198.51.100.1', 993, tlvs) + hello)
    write('proxy_header', 'v2_tcp6', proxyproto.v2('2001:db8::7', 51234, '2001:db8::1', 993) + hello)
    write('proxy_header', 'v2_local', proxyproto.v2('192.0.2.7', 1, '198.51.100.1', 2, command=0x0) + hello)
    sig = b'\r\n\r\n\x00\r\nQUIT\n'
    write('proxy_header', 'v2_unix', sig + b'\x21\x31' + (216).to_bytes(2, 'big') + b'/run/a'.ljust(108, b'\0') +
          b'/run/b'.ljust(108, b'\0') + hello)


def pre_tls_seeds():
    sessions = {
        'imap': (0, b'a1 CAPABILITY\r\na2 NOOP\r\na3 LOGIN u p\r\na4 SELECT x\r\na5 STARTTLS\r\nb LOGIN x y\r\n'),
        'imap_logout': (0, b'* x\r\n\r\nt logout\r\n'),
        'pop3': (1, b'CAPA\r\nUSER bob\r\nPASS x\r\nAPOP a b\r\nSTLS\r\nUSER evil\r\n'),
        'pop3_quit': (1, b'STAT\nQUIT\n'),
        'smtp': (2, b'EHLO client.example\r\nMAIL FROM:<a@b>\r\nHELO x\r\nNOOP\r\nRSET\r\nSTARTTLS\r\nRCPT TO:<c>\r\n'),
        'smtp_quit': (2, b'EHLO\r\nSTARTTLS now\r\n\r\nQUIT\r\n'),
        'smtp_optional': (3, b'MAIL FROM:<a@b>\r\nEHLO relay.example\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n'),
        'smtp_optional_tls': (3, b'HELO a\r\nEHLO b\r\nSTARTTLS\r\n'),
    }
    for name, (kind, text) in sessions.items():
        for piece in (255, 6):
            write('pre_tls_dialogue', f'{name}_{piece}', bytes([kind, piece]) + text)
    write('pre_tls_dialogue', 'long_line', bytes([2, 200]) + b'x' * 1100)


def backend_reply_seeds():
    replies = {
        'dovecot_imap': b'* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE AUTH=PLAIN] Dovecot ready.\r\n',
        'imap_bye': b'* BYE Too many connections\r\n',
        'dovecot_pop3': b'+OK Dovecot ready.\r\n',
        'pop3_err': b'-ERR [SYS/TEMP] busy\r\n',
        'postfix': b'220 mx.example.test ESMTP Postfix\r\n',
        'smtp_multi': b'220-mx.example.test ESMTP\r\n220-second\r\n220 ready\r\n',
        'ehlo_reply': b'250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n',
        'smtp_554': b'554 5.7.1 no\r\n',
    }
    for name, data in replies.items():
        write('backend_reply', name, data)


def capture_first_flight(connect):
    """Listens on 127.0.0.1, runs connect(port) in a thread, returns the bytes the client sent
    before it waits for the server (its ClientHello records)."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    t = threading.Thread(target=connect, args=(port,), daemon=True)
    t.start()
    srv.settimeout(10)
    conn, _ = srv.accept()
    conn.settimeout(1.0)
    data = b''
    try:
        while True:
            d = conn.recv(65536)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    conn.close()
    srv.close()
    t.join(timeout=5)
    return data


def python_client(version, alpn):
    def connect(port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = version
        if alpn:
            ctx.set_alpn_protocols(alpn)
        try:
            s = socket.create_connection(('127.0.0.1', port), timeout=3)
            ctx.wrap_socket(s, server_hostname='mail.example.test').close()
        except OSError:
            pass
    return connect


def command_client(argv):
    def connect(port):
        try:
            subprocess.run([a.replace('PORT', str(port)) for a in argv], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return connect


def client_hello_seeds():
    # The first byte is the target's variant selector: listener 0..3, bit 2 = record by record.
    clients = {
        'python_tls13_alpn': (0, python_client(ssl.TLSVersion.TLSv1_3, ['imap'])),
        'python_tls12': (4, python_client(ssl.TLSVersion.TLSv1_2, None)),
        'python_tls13_strict': (1, python_client(ssl.TLSVersion.TLSv1_3, None)),
        'python_tls12_min13': (2, python_client(ssl.TLSVersion.TLSv1_2, ['pop3'])),
        'python_tls13_verify': (3, python_client(ssl.TLSVersion.TLSv1_3, None)),
        'openssl_other_sni': (0, command_client(['openssl', 's_client', '-connect', '127.0.0.1:PORT',
                                                 '-servername', 'x.wild.example.test', '-alpn', 'imap'])),
        'openssl_tls12_rsa': (4, command_client(['openssl', 's_client', '-connect', '127.0.0.1:PORT', '-tls1_2',
                                                 '-sigalgs', 'RSA-PSS+SHA256:RSA+SHA256', '-noservername'])),
    }
    if shutil.which('gnutls-cli'):
        clients['gnutls'] = (0, command_client(['gnutls-cli', '--insecure', '-p', 'PORT', '127.0.0.1']))
    for name, (selector, connect) in clients.items():
        data = capture_first_flight(connect)
        if data:
            write('client_hello', name, bytes([selector]) + data)


if __name__ == '__main__':
    config_seeds()
    proxy_header_seeds()
    pre_tls_seeds()
    backend_reply_seeds()
    client_hello_seeds()
    for target in sorted(os.listdir(CORPUS)):
        print(target, len(os.listdir(os.path.join(CORPUS, target))), 'seeds')
