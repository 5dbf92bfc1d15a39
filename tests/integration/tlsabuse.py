"""Hand-made TLS bytes for the abuse tests: ClientHellos of any size (split over records), record
headers, alert parsing, OpenSSL session files with max_early_data set, long certificate chains.

Nothing here completes a handshake by itself: the handshakes are done by Python's ssl (MemoryBIO)
or `openssl s_client`; these helpers make what a well-behaved client never sends.
"""
import base64
import os
import re
import select
import socket
import struct
import subprocess
import time

import harness

CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPLICATION_DATA = 23

ALERT_RECORD_OVERFLOW = 22
ALERT_ILLEGAL_PARAMETER = 47
ALERT_UNKNOWN_CA = 48
ALERT_NO_RENEGOTIATION = 100
ALERT_UNRECOGNIZED_NAME = 112
ALERT_NO_APPLICATION_PROTOCOL = 120

MAX_PLAINTEXT = 16384
# RFC 5246 6.2.3: a TLSCiphertext is at most 2^14 + 2048 bytes; more is record_overflow.
MAX_CIPHERTEXT = 16384 + 2048

EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_SIGNATURE_ALGORITHMS = 13
EXT_ALPN = 16
EXT_PADDING = 21
EXT_SUPPORTED_VERSIONS = 43
EXT_KEY_SHARE = 51


def u8(b):
    return bytes([len(b)]) + b


def u16(b):
    return struct.pack('>H', len(b)) + b


def u24(b):
    return struct.pack('>I', len(b))[1:] + b


def extension(kind, body):
    return struct.pack('>H', kind) + u16(body)


def client_hello(sni=b'mail.example.test', alpn=None, extra_extensions=(), cipher_suites=None):
    """A TLS 1.3 + 1.2 ClientHello handshake message (type 1, with its 4-byte header). The key share
    is 32 random bytes: fine for X25519, and the server refuses these hellos before using it."""
    exts = []
    if sni is not None:
        exts.append(extension(EXT_SERVER_NAME, u16(b'\x00' + u16(sni))))
    exts.append(extension(EXT_SUPPORTED_GROUPS, u16(b'\x00\x1d\x00\x17')))
    exts.append(extension(EXT_SIGNATURE_ALGORITHMS, u16(b'\x04\x03\x08\x04\x04\x01\x05\x01')))
    exts.append(extension(EXT_SUPPORTED_VERSIONS, u8(b'\x03\x04\x03\x03')))
    exts.append(extension(EXT_KEY_SHARE, u16(b'\x00\x1d' + u16(os.urandom(32)))))
    if alpn is not None:
        exts.append(extension(EXT_ALPN, u16(b''.join(u8(p) for p in alpn))))
    exts.extend(extra_extensions)
    suites = cipher_suites if cipher_suites is not None else b'\x13\x01\x13\x02\xc0\x2f\xc0\x2b'
    body = (b'\x03\x03' + os.urandom(32) + u8(os.urandom(32)) + u16(suites) + u8(b'\x00')
            + u16(b''.join(exts)))
    return b'\x01' + u24(body)


def handshake_records(message, size=MAX_PLAINTEXT, version=b'\x03\x01'):
    """A handshake message cut into plaintext records of at most `size` bytes."""
    return [bytes([CONTENT_HANDSHAKE]) + version + u16(message[i:i + size])
            for i in range(0, len(message), size)]


def record_header(content_type, length, version=b'\x03\x03'):
    return bytes([content_type]) + version + struct.pack('>H', length)


def send_records_until_answered(sock, records, wait=0.3):
    """Send records one by one; stop as soon as the server has answered (or closed), so the server's
    alert is not lost to a reset caused by bytes it never read. Returns how many were sent."""
    sent = 0
    for rec in records:
        try:
            sock.sendall(rec)
        except OSError:
            break
        sent += 1
        readable, _, _ = select.select([sock], [], [], wait * harness.time_scale())
        if readable:
            break
    return sent


def read_plaintext_answer(sock, timeout=5.0):
    """What the server sent back on a connection that is still in clear text: (bytes, how) with how
    'eof', 'reset' or 'timeout' (how the reading ended)."""
    deadline = time.monotonic() + timeout * harness.time_scale()
    data = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), 'timeout'
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return bytes(data), 'timeout'
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data), 'reset'
        if not d:
            return bytes(data), 'eof'
        data += d


def records_in(data):
    """Plaintext records in data: [(content type, body)] (a truncated last one is left out)."""
    out = []
    i = 0
    while i + 5 <= len(data):
        length = struct.unpack('>H', data[i + 3:i + 5])[0]
        if i + 5 + length > len(data):
            break
        out.append((data[i], data[i + 5:i + 5 + length]))
        i += 5 + length
    return out


def plaintext_alert(data):
    """(level, description) of the first clear-text alert record in data, or None."""
    for content_type, body in records_in(data):
        if content_type == CONTENT_ALERT and len(body) == 2:
            return body[0], body[1]
    return None


def first_handshake_type(data):
    """The handshake message type that starts the server's first handshake record (2 = ServerHello)."""
    for content_type, body in records_in(data):
        if content_type == CONTENT_HANDSHAKE and body:
            return body[0]
    return None


# ---------------------------------------------------------------------------------------------
# OpenSSL session files (`s_client -sess_out`): PEM "SSL SESSION PARAMETERS", the DER SEQUENCE of
# ssl/ssl_asn1.c. Field [15] EXPLICIT INTEGER is max_early_data (left out when 0).

def _der_length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


def _read_tlv(data, i):
    tag = data[i]
    n = data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(data[i:i + k], 'big')
        i += k
    return tag, i, i + n


def session_with_max_early_data(pem_text, value):
    """The session file with max_early_data = value, as if the server's ticket had allowed 0-RTT
    (OpenSSL's client only sends early data for such a session)."""
    m = re.search(r'-----BEGIN SSL SESSION PARAMETERS-----(.*?)-----END SSL SESSION PARAMETERS-----',
                  pem_text, re.S)
    if not m:
        raise ValueError('no SSL SESSION PARAMETERS block')
    der = base64.b64decode(''.join(m.group(1).split()))
    tag, start, end = _read_tlv(der, 0)
    if tag != 0x30:
        raise ValueError('session is not a DER SEQUENCE')
    fields = []
    i = start
    while i < end:
        t, _, e = _read_tlv(der, i)
        fields.append((t, der[i:e]))
        i = e
    value_bytes = value.to_bytes((value.bit_length() + 8) // 8, 'big')
    integer = b'\x02' + _der_length(len(value_bytes)) + value_bytes
    field15 = bytes([0xA0 | 15]) + _der_length(len(integer)) + integer
    kept = [f for t, f in fields if t != (0xA0 | 15)]
    # context tags ascend: [15] goes before the first field tagged above 15
    pos = next((k for k, f in enumerate(kept) if 0xA0 <= f[0] <= 0xBF and (f[0] & 0x1f) > 15), len(kept))
    kept.insert(pos, field15)
    content = b''.join(kept)
    new_der = b'\x30' + _der_length(len(content)) + content
    b64 = base64.b64encode(new_der).decode()
    return ('-----BEGIN SSL SESSION PARAMETERS-----\n'
            + '\n'.join(b64[k:k + 64] for k in range(0, len(b64), 64))
            + '\n-----END SSL SESSION PARAMETERS-----\n')


# ---------------------------------------------------------------------------------------------
# Certificate chains

def _openssl(*args, cwd):
    r = subprocess.run(['openssl', *args], cwd=cwd, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f'openssl {" ".join(args)} failed: {r.stderr.decode(errors="replace")}')


class Chain:
    def __init__(self, leaf_cert, leaf_key, chain_file, certificates, der_bytes):
        self.leaf_cert = leaf_cert
        self.leaf_key = leaf_key
        self.chain_file = chain_file      # the intermediates, nearest to the leaf first
        self.certificates = certificates  # leaf + intermediates: what the client sends
        self.der_bytes = der_bytes        # their DER size together


_CHAIN_CONFIG = """[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def long_client_chain(directory, root_cert, root_key, count, cn):
    """A client certificate issued through count-1 intermediate CAs below root (ECDSA P-256, one
    `openssl req -x509 -CA` per certificate: 100 take about half a second):
    leaf <- CA count-1 <- ... <- CA 1 <- root. The client sends count certificates."""
    import ssl
    os.makedirs(directory, exist_ok=True)
    config = os.path.join(directory, 'chain.cnf')
    with open(config, 'w') as f:
        f.write(_CHAIN_CONFIG)
    issuer_cert, issuer_key = root_cert, root_key
    sent = []  # leaf first, then the intermediates, nearest to the leaf first
    for i in range(1, count + 1):
        is_leaf = i == count
        stem = 'leaf' if is_leaf else f'ca{i}'
        key, cert = os.path.join(directory, stem + '.key'), os.path.join(directory, stem + '.pem')
        _openssl('req', '-new', '-x509', '-config', config, '-extensions', 'leaf_ext' if is_leaf else 'ca_ext',
                 '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                 '-subj', f'/CN={cn}' if is_leaf else f'/CN={cn} CA {i}', '-keyout', key, '-out', cert,
                 '-CA', issuer_cert, '-CAkey', issuer_key, '-days', '30', '-set_serial', str(1000 + i),
                 cwd=directory)
        sent.insert(0, cert)
        issuer_cert, issuer_key = cert, key
    chain_file = os.path.join(directory, 'chain.pem')
    der_total = 0
    with open(chain_file, 'w') as out:
        for cert in sent:
            with open(cert) as f:
                pem = f.read()
            der_total += len(ssl.PEM_cert_to_DER_cert(pem))
            if cert != sent[0]:
                out.write(pem)
    return Chain(sent[0], os.path.join(directory, 'leaf.key'), chain_file, len(sent), der_total)
