"""Test PKI made with the openssl CLI: a CA, an intermediate, RSA-2048 and ECDSA P-256 leaves.

Every leaf has a distinct subject CN, so a test can tell from `openssl s_client` output which
certificate tlsfront chose. get_pki() builds the set once per run. get_client_pki() builds a second
CA for client certificates (mTLS): alice (good), mallory (revoked) and the CA's CRL.
"""
import concurrent.futures
import os
import secrets
import subprocess
import threading

import harness

KEY_PASSWORD = 'correct horse battery staple'


def _openssl(*args, cwd):
    r = subprocess.run(['openssl', *args], cwd=cwd, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f'openssl {" ".join(args)} failed: {r.stderr.decode(errors="replace")}')
    return r


class Leaf:
    def __init__(self, cn, cert, key):
        self.cn = cn
        self.cert = cert     # PEM chain: leaf (+ intermediate when issued by one)
        self.key = key
        self.password_file = None
        self.combined = None  # cert chain + key in one file


class Pki:
    def __init__(self, directory, ca_cn='tlsfront Test CA', intermediate=True):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_cert = os.path.join(directory, 'ca.pem')
        self.ca_key = os.path.join(directory, 'ca.key')
        _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650',
                 '-subj', '/CN=' + ca_cn,
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
                 '-keyout', self.ca_key, '-out', self.ca_cert, cwd=directory)
        if intermediate:
            self._make_intermediate()

    def _make_intermediate(self):
        """An intermediate CA, so one chain has to be sent as leaf + intermediate."""
        directory = self.dir
        self.int_cert = os.path.join(directory, 'intermediate.pem')
        self.int_key = os.path.join(directory, 'intermediate.key')
        self._key('rsa', self.int_key)
        csr = os.path.join(directory, 'intermediate.csr')
        _openssl('req', '-new', '-key', self.int_key, '-subj', '/CN=tlsfront Test Intermediate',
                 '-out', csr, cwd=directory)
        ext = os.path.join(directory, 'intermediate.ext')
        with open(ext, 'w') as f:
            f.write('basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n')
        _openssl('x509', '-req', '-in', csr, '-CA', self.ca_cert, '-CAkey', self.ca_key,
                 '-set_serial', str(secrets.randbits(63)), '-days', '3650', '-extfile', ext,
                 '-out', self.int_cert, cwd=directory)

    def _key(self, kind, path, password_file=None):
        if kind == 'rsa':
            algo = ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
        else:
            algo = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
        enc = ['-aes-256-cbc', '-pass', 'file:' + password_file] if password_file else []
        _openssl('genpkey', *algo, *enc, '-out', path, cwd=self.dir)

    def leaf(self, stem, cn, names, kind='rsa', password=None, combined=False, via_intermediate=False,
             eku='serverAuth'):
        """Issue a leaf certificate. names: DNS names (or IPs) for subjectAltName (none: no SAN);
        eku: extendedKeyUsage (clientAuth for client certificates)."""
        key = os.path.join(self.dir, stem + '.key')
        cert = os.path.join(self.dir, stem + '.pem')
        pwfile = None
        if password:
            pwfile = os.path.join(self.dir, stem + '.password')
            with open(pwfile, 'w') as f:
                f.write(password + '\n')
        self._key(kind, key, pwfile)
        csr = os.path.join(self.dir, stem + '.csr')
        passin = ['-passin', 'file:' + pwfile] if pwfile else []
        _openssl('req', '-new', '-key', key, *passin, '-subj', '/CN=' + cn, '-out', csr, cwd=self.dir)
        san = ','.join(('IP:' + n) if n.replace('.', '').isdigit() else ('DNS:' + n) for n in names)
        usage = 'digitalSignature,keyEncipherment' if kind == 'rsa' else 'digitalSignature'
        ext = os.path.join(self.dir, stem + '.ext')
        with open(ext, 'w') as f:
            if san:
                f.write(f'subjectAltName={san}\n')
            f.write(f'extendedKeyUsage={eku}\nkeyUsage=critical,{usage}\nbasicConstraints=CA:FALSE\n')
        issuer_cert, issuer_key = (self.int_cert, self.int_key) if via_intermediate else (self.ca_cert, self.ca_key)
        leaf_only = os.path.join(self.dir, stem + '.leaf.pem')
        _openssl('x509', '-req', '-in', csr, '-CA', issuer_cert, '-CAkey', issuer_key,
                 '-set_serial', str(secrets.randbits(63)), '-days', '825', '-extfile', ext,
                 '-out', leaf_only, cwd=self.dir)
        with open(cert, 'w') as out:
            with open(leaf_only) as f:
                out.write(f.read())
            if via_intermediate:
                with open(self.int_cert) as f:
                    out.write(f.read())
        leaf = Leaf(cn, cert, key)
        leaf.password_file = pwfile
        if combined:
            leaf.combined = os.path.join(self.dir, stem + '.combined.pem')
            with open(leaf.combined, 'w') as out:
                for p in (cert, key):
                    with open(p) as f:
                        out.write(f.read())
        return leaf


class StandardPki(Pki):
    """The certificates most tests use. CN values are what the tests look for."""

    LEAVES = {  # attribute: (file stem, CN, names, options)
        'global_': ('global', 'global.test', ['global.test'], {}),
        'listener': ('listener', 'listener.test', ['listener.test'], {}),
        'exact': ('exact', 'imap.example.org', ['imap.example.org'], {}),
        'wildcard': ('wildcard', 'wildcard.example.net', ['*.example.net'], {'via_intermediate': True}),
        'local2': ('local2', 'local2.test', ['local2.test', '127.0.0.2'], {}),
        'dual_rsa': ('dual-rsa', 'dual-rsa.example.com', ['dual.example.com'], {}),
        'dual_ec': ('dual-ec', 'dual-ecdsa.example.com', ['dual.example.com'], {'kind': 'ec'}),
        'ec_only': ('ec-only', 'ecdsa.example.org', ['ecdsa.example.org'], {'kind': 'ec'}),
        'encrypted': ('encrypted', 'secret.example.org', ['secret.example.org'], {'password': KEY_PASSWORD}),
        'combined': ('combined', 'combined.example.org', ['combined.example.org'], {'combined': True}),
        'mail': ('mail', 'mail.example.test', ['mail.example.test', 'localhost', '127.0.0.1'], {}),
        'other': ('other', 'other.test', ['other.test'], {}),  # its key matches no other certificate
    }

    def __init__(self, directory):
        super().__init__(directory)
        # RSA key generation dominates: two at a time (the machines have 2 cores)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = {attr: pool.submit(self.leaf, stem, cn, names, **opts)
                       for attr, (stem, cn, names, opts) in self.LEAVES.items()}
            for attr, fut in futures.items():
                setattr(self, attr, fut.result())


class ClientPki(Pki):
    """A CA for client certificates (no intermediate), alice (good), mallory (revoked in the CRL).
    EC keys: fast to make."""

    def __init__(self, directory):
        super().__init__(directory, ca_cn='tlsfront Test Client CA', intermediate=False)
        self.alice = self.leaf('alice', 'alice', [], kind='ec', eku='clientAuth')
        self.mallory = self.leaf('mallory', 'mallory', [], kind='ec', eku='clientAuth')
        self.crl = self.make_crl([self.mallory])

    def make_crl(self, revoked):
        """A PEM CRL signed by the CA listing the revoked leaves (`openssl ca -revoke`, then
        `openssl ca -gencrl` with a minimal CA database)."""
        db = os.path.join(self.dir, 'ca-db')
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, 'index.txt'), 'w').close()
        with open(os.path.join(db, 'crlnumber'), 'w') as f:
            f.write('01\n')
        cnf = os.path.join(db, 'ca.cnf')
        with open(cnf, 'w') as f:
            f.write(f'[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = {db}/index.txt\n'
                    f'crlnumber = {db}/crlnumber\ncertificate = {self.ca_cert}\nprivate_key = {self.ca_key}\n'
                    'default_md = sha256\ndefault_crl_days = 30\n')
        for leaf in revoked:
            _openssl('ca', '-config', cnf, '-revoke', leaf.cert, '-crl_reason', 'keyCompromise', cwd=self.dir)
        out = os.path.join(self.dir, 'crl.pem')
        _openssl('ca', '-config', cnf, '-gencrl', '-out', out, cwd=self.dir)
        return out


_built = {}
_pki_lock = threading.Lock()


def _once(key, make):
    with _pki_lock:
        if key not in _built:
            _built[key] = make(os.path.join(harness.session_dir(), key))
        return _built[key]


def get_pki():
    return _once('pki', StandardPki)


def get_client_pki():
    return _once('client-pki', ClientPki)
