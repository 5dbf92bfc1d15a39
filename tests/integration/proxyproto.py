"""HAProxy PROXY protocol v1/v2 headers (haproxy doc/proxy-protocol.txt): building them (a balancer
in front of tlsfront) and parsing them (what tlsfront sends to a backend)."""
import ipaddress
import socket
import struct

V2_SIGNATURE = b'\r\n\r\n\x00\r\nQUIT\n'

# TLV types (section 2.2)
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_SUBTYPE_SSL_VERSION = 0x21
PP2_SUBTYPE_SSL_CN = 0x22
PP2_SUBTYPE_SSL_CIPHER = 0x23
PP2_SUBTYPE_SSL_SIG_ALG = 0x24
PP2_SUBTYPE_SSL_KEY_ALG = 0x25
PP2_CLIENT_SSL = 0x01
PP2_CLIENT_CERT_CONN = 0x02
PP2_CLIENT_CERT_SESS = 0x04


def v1(src, sport, dst, dport):
    fam = 'TCP6' if ':' in src else 'TCP4'
    return f'PROXY {fam} {src} {dst} {sport} {dport}\r\n'.encode()


def tlv(kind, value):
    return struct.pack('!BH', kind, len(value)) + value


def v2(src, sport, dst, dport, tlvs=b'', command=0x1):
    """command 0x1 = PROXY, 0x0 = LOCAL. tlvs: already encoded (see tlv())."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if a.version == 4 else 0x21  # TCP over IPv4 / IPv6
    body = a.packed + b.packed + struct.pack('!HH', sport, dport) + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, fam]) + struct.pack('!H', len(body)) + body


class Header:
    """A parsed header. version 1 or 2; src/dst as (address, port) or None (LOCAL, UNKNOWN);
    tlvs: list of (type, bytes); ssl: dict(client, verify, subs {subtype: bytes}) or None."""

    def __init__(self):
        self.version = None
        self.command = None
        self.family = None
        self.src = None
        self.dst = None
        self.tlvs = []
        self.ssl = None
        self.size = 0

    def tlv(self, kind):
        """The value of the first TLV of that type, or None."""
        for k, v in self.tlvs:
            if k == kind:
                return v
        return None

    def types(self):
        return [k for k, _ in self.tlvs]

    def ssl_sub(self, subtype):
        return (self.ssl or {}).get('subs', {}).get(subtype)

    def describe(self):
        parts = [f'v{self.version} size={self.size} src={self.src} dst={self.dst}']
        for k, v in self.tlvs:
            parts.append(f'TLV 0x{k:02x}={v!r}')
        if self.ssl:
            parts.append(f"SSL client=0x{self.ssl['client']:02x} verify={self.ssl['verify']} "
                         + ' '.join(f'0x{k:02x}={v!r}' for k, v in self.ssl['subs'].items()))
        return ' '.join(parts)


class ParseError(ValueError):
    pass


def header_length(data):
    """Bytes the header at the start of data needs in all, or None when data is too short to tell."""
    if data.startswith(V2_SIGNATURE[:len(data)]) and len(data) < 16:
        return None
    if data.startswith(V2_SIGNATURE):
        return 16 + struct.unpack('!H', data[14:16])[0]
    if data.startswith(b'PROXY '):
        end = data.find(b'\r\n')
        return None if end < 0 else end + 2
    if b'PROXY '.startswith(data):
        return None
    raise ParseError(f'not a PROXY header: {data[:32]!r}')


def _tlvs(data):
    out = []
    i = 0
    while i < len(data):
        if i + 3 > len(data):
            raise ParseError(f'truncated TLV at offset {i}')
        kind, length = struct.unpack('!BH', data[i:i + 3])
        if i + 3 + length > len(data):
            raise ParseError(f'TLV 0x{kind:02x} length {length} runs past the header')
        out.append((kind, data[i + 3:i + 3 + length]))
        i += 3 + length
    return out


def parse(data):
    """Parse exactly one header that fills data (raises ParseError on anything else)."""
    h = Header()
    h.size = len(data)
    if data.startswith(b'PROXY '):
        if not data.endswith(b'\r\n') or data.count(b'\r\n') != 1:
            raise ParseError(f'v1 header is not one CRLF-terminated line: {data!r}')
        parts = data[:-2].decode('ascii').split(' ')
        h.version = 1
        h.family = parts[1]
        if parts[1] in ('TCP4', 'TCP6') and len(parts) == 6:
            h.src = (parts[2], int(parts[4]))
            h.dst = (parts[3], int(parts[5]))
        elif parts[1] != 'UNKNOWN':
            raise ParseError(f'bad v1 header: {data!r}')
        return h
    if not data.startswith(V2_SIGNATURE) or len(data) < 16:
        raise ParseError(f'no v2 signature: {data[:16]!r}')
    ver_cmd, fam, length = data[12], data[13], struct.unpack('!H', data[14:16])[0]
    if len(data) != 16 + length:
        raise ParseError(f'v2 length field says {16 + length} bytes, got {len(data)}')
    if ver_cmd >> 4 != 2:
        raise ParseError(f'v2 version nibble {ver_cmd >> 4}')
    h.version = 2
    h.command = ver_cmd & 0x0f
    h.family = fam
    body = data[16:]
    if fam == 0x11:
        h.src = (socket.inet_ntop(socket.AF_INET, body[0:4]), struct.unpack('!H', body[8:10])[0])
        h.dst = (socket.inet_ntop(socket.AF_INET, body[4:8]), struct.unpack('!H', body[10:12])[0])
        rest = body[12:]
    elif fam == 0x21:
        h.src = (socket.inet_ntop(socket.AF_INET6, body[0:16]), struct.unpack('!H', body[32:34])[0])
        h.dst = (socket.inet_ntop(socket.AF_INET6, body[16:32]), struct.unpack('!H', body[34:36])[0])
        rest = body[36:]
    elif fam == 0x00:
        rest = body
    else:
        raise ParseError(f'unexpected v2 family 0x{fam:02x}')
    h.tlvs = _tlvs(rest)
    ssl = h.tlv(PP2_TYPE_SSL)
    if ssl is not None:
        if len(ssl) < 5:
            raise ParseError(f'SSL TLV too short: {ssl!r}')
        client, verify = struct.unpack('!BI', ssl[:5])
        h.ssl = {'client': client, 'verify': verify, 'subs': dict(_tlvs(ssl[5:]))}
    return h
