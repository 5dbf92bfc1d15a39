"""Real mail clients pointed at a tlsfront listener on 127.0.0.1 under a host name (SNI and
certificate verification use the name, the TCP connection goes to 127.0.0.1, optionally from
another loopback source address so the backend can tell the client apart from the proxy):
curl, Python imaplib/poplib/smtplib (implicit TLS or plaintext for STARTTLS), swaks, openssl
s_client, and a line-oriented runner for clients that quit on stdin EOF (gnutls-cli)."""
import imaplib
import poplib
import smtplib
import socket
import subprocess
import threading
import time

import dovecot
import harness
from harness import run

NAME = 'mail.example.test'  # on the `mail` certificate of certs.StandardPki
ADDR = '127.0.0.1'


def _connect(port, timeout, source):
    return socket.create_connection((ADDR, port), timeout, source_address=(source, 0) if source else None)


def imap4_ssl(port, ctx, name=NAME, source=None, timeout=10):
    class IMAP4_SSL_At(imaplib.IMAP4_SSL):  # host= is the SNI / verified name
        def _create_socket(self, t):
            return self.ssl_context.wrap_socket(_connect(port, t, source), server_hostname=self.host)
    return IMAP4_SSL_At(name, port, ssl_context=ctx, timeout=timeout)


def pop3_ssl(port, ctx, name=NAME, source=None, timeout=10):
    class POP3_SSL_At(poplib.POP3_SSL):  # POP3_SSL wraps inside _create_socket
        def _create_socket(self, t):
            return self.context.wrap_socket(_connect(port, t, source), server_hostname=self.host)
    return POP3_SSL_At(name, port, context=ctx, timeout=timeout)


def smtp_ssl(port, ctx, name=NAME, source=None, timeout=10, local_hostname='py.example'):
    class SMTP_SSL_At(smtplib.SMTP_SSL):
        def _get_socket(self, host, p, t):
            return self.context.wrap_socket(_connect(port, t, source), server_hostname=self._host)
    return SMTP_SSL_At(name, port, context=ctx, timeout=timeout, local_hostname=local_hostname)


def imap4(port, name=NAME, source=None, timeout=10):
    """Plaintext IMAP to a STARTTLS listener; starttls(ssl_context=ctx) then verifies `name`."""
    class IMAP4_At(imaplib.IMAP4):
        def _create_socket(self, t):
            return _connect(port, t, source)
    return IMAP4_At(name, port, timeout=timeout)


def pop3(port, name=NAME, source=None, timeout=10):
    class POP3_At(poplib.POP3):
        def _create_socket(self, t):
            return _connect(port, t, source)
    return POP3_At(name, port, timeout=timeout)


def smtp(port, name=NAME, source=None, timeout=10, local_hostname='py.example'):
    class SMTP_At(smtplib.SMTP):
        def _get_socket(self, host, p, t):
            return _connect(port, t, source)
    return SMTP_At(name, port, timeout=timeout, local_hostname=local_hostname)


def quietly(call):
    """For logout/quit in finally blocks: the session may already be gone."""
    try:
        call()
    except (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException, OSError):
        pass


def curl(cafile, port, scheme, url_path, name=NAME, user=(dovecot.USER, dovecot.PASSWORD), interface=None,
         extra=()):
    """curl SCHEME://NAME:PORT/PATH resolved to 127.0.0.1. Returns (rc, stdout, stderr)."""
    cmd = ['curl', '-sS', '--max-time', str(int(15 * harness.time_scale())), '--cacert', cafile,
           '--resolve', f'{name}:{port}:{ADDR}']
    if user:
        cmd += ['--user', f'{user[0]}:{user[1]}']
    if interface:
        cmd += ['--interface', interface]
    r = run([*cmd, *extra, f'{scheme}://{name}:{port}{url_path}'], timeout=20 * harness.time_scale())
    return r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')


def swaks(port, cafile, name=NAME, extra=(), tls='--tlsc'):
    """swaks with implicit TLS (--tlsc), or STARTTLS (tls='--tls'), SNI and chain verification; or
    plaintext (tls=None). Returns the CompletedProcess."""
    tls_args = [tls, '--tls-sni', name, '--tls-verify', '--tls-ca-path', cafile] if tls else []
    return run(['swaks', '--server', ADDR, '--port', str(port), *tls_args, '--timeout', '15', *extra],
               timeout=30 * harness.time_scale())


def s_client_script(port, cafile, script, name=NAME, extra=()):
    """openssl s_client -quiet (waits until the server closes: end the script with LOGOUT/QUIT),
    with SNI and chain + host name verification; extra=['-starttls', 'imap'] for STARTTLS.
    Returns (rc, stdout, stderr)."""
    r = run(['openssl', 's_client', '-connect', f'{ADDR}:{port}', '-servername', name, '-CAfile', cafile,
             '-verify_return_error', '-verify_hostname', name, '-quiet', *extra],
            input=script, timeout=15 * harness.time_scale())
    return r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')


def interactive(cmd, lines, done_marker, timeout=15):
    """Run a line-oriented TLS client, feed it lines, and keep stdin open until done_marker shows
    up in its output (some clients quit on stdin EOF before the reply has arrived).
    Returns (stdout bytes, stderr text)."""
    proc = harness.register_process(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                     stderr=subprocess.PIPE))
    out = bytearray()

    def reader():
        for chunk in iter(lambda: proc.stdout.read1(4096), b''):
            out.extend(chunk)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout * harness.time_scale()
    try:
        for line in lines:
            proc.stdin.write(line)
            proc.stdin.flush()
            time.sleep(0.05)
        while done_marker not in out and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        t.join(timeout=5)
    err = proc.stderr.read().decode(errors='replace')
    return bytes(out), err
