"""A private Dovecot 2.3 instance as the backend behind tlsfront, with two kinds of listeners on
127.0.0.1:
- plain IMAP/POP3 (imap_port, pop3_port): a legacy daemon that knows nothing of the PROXY protocol;
- `haproxy = yes` IMAP/POP3 (imap_proxy_port, pop3_proxy_port): they require a PROXY v1/v2 header
  from 127.0.0.0/8 (haproxy_trusted_networks), so the log shows the client address from the header.
and an auth listener (auth_port) that Postfix uses for SASL (postfix.py).

Started as a root daemon in the foreground (`dovecot -F -c CONF`), stopped by PID. The directory
must be mode 755: the auth process (user dovecot) and the mail processes (uid 65534) traverse it.
Connections from 127.0.0.1 to 127.0.0.1 count as secured in Dovecot 2.3, so plaintext LOGIN works
through tlsfront even with disable_plaintext_auth = yes. A proxied login is secured only when the
v2 header carries the SSL TLV with the client-SSL bit (v1 or no TLV: LOGINDISABLED).
The login log line carries rip/rport (from the header), real_rip/real_rport (the socket),
local_name (the AUTHORITY TLV, i.e. the SNI) and "secured".
"""
import os
import re
import signal
import socket
import subprocess
import time

import harness

USER, PASSWORD = 'testuser', 'testpass'
FIRST_SUBJECT = 'Welcome to tlsfront'
MAIL_UID = 65534

CONF = """\
protocols = imap pop3
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_verbose = yes
haproxy_trusted_networks = 127.0.0.0/8
haproxy_timeout = 3s
login_log_format_elements = user=<%u> method=%m rip=%r rport=%b lip=%l lport=%a real_rip=%{{real_rip}} real_rport=%{{real_rport}} local_name=%{{local_name}} %c session=<%{{session}}>
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imap_proxy {{
    port = {imap_proxy_port}
    haproxy = yes
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3_proxy {{
    port = {pop3_proxy_port}
    haproxy = yes
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service auth {{
  inet_listener auth_sasl {{
    address = 127.0.0.1
    port = {auth_port}
  }}
}}
"""

FIRST_MESSAGE = (
    'From: tlsfront test <postmaster@example.test>\r\n'
    'To: testuser@example.test\r\n'
    f'Subject: {FIRST_SUBJECT}\r\n'
    'Date: Mon, 23 Nov 2026 16:40:00 +0000\r\n'
    'Message-ID: <first@example.test>\r\n'
    '\r\n'
    'This message was delivered by writing a file into the Maildir.\r\n'
)


def available():
    """'' when a Dovecot can be started here, else why not."""
    return harness.daemon_unavailable('dovecot', ['dovenull'], 'dovecot-core')


class Dovecot(harness.LogFile):
    def __init__(self, root=None, instance='tlsfront-it-dovecot', extra_conf=''):
        """extra_conf: appended to the configuration (e.g. a `protocol imap { ... }` block)."""
        self.root = root or harness.new_dir('dovecot')
        self.extra_conf = extra_conf
        os.chmod(self.root, 0o755)
        self.instance = instance
        self.imap_port = harness.free_port()
        self.pop3_port = harness.free_port()
        self.imap_proxy_port = harness.free_port()  # haproxy = yes
        self.pop3_proxy_port = harness.free_port()  # haproxy = yes
        self.auth_port = harness.free_port()        # SASL for Postfix
        self.proc = None
        self.log_path = os.path.join(self.root, 'dovecot.log')
        self.maildir = os.path.join(self.root, 'mail', USER, 'Maildir')

    def write(self):
        with open(os.path.join(self.root, 'dovecot.conf'), 'w') as f:
            f.write(CONF.format(root=self.root, instance=self.instance,
                                imap_port=self.imap_port, pop3_port=self.pop3_port,
                                imap_proxy_port=self.imap_proxy_port, pop3_proxy_port=self.pop3_proxy_port,
                                auth_port=self.auth_port) + self.extra_conf)
        with open(os.path.join(self.root, 'users'), 'w') as f:
            f.write(f'{USER}:{{PLAIN}}{PASSWORD}:{MAIL_UID}:{MAIL_UID}::{self.root}/mail/{USER}::\n')
        # The first message: a file in Maildir/new is a delivered message.
        for sub in ('cur', 'new', 'tmp'):
            os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        with open(os.path.join(self.maildir, 'new', '1700000000.M1P1.tlsfront'), 'w', newline='') as f:
            f.write(FIRST_MESSAGE)
        for dirpath, dirnames, filenames in os.walk(os.path.join(self.root, 'mail')):
            os.chown(dirpath, MAIL_UID, MAIL_UID)
            for n in filenames:
                os.chown(os.path.join(dirpath, n), MAIL_UID, MAIL_UID)

    def start(self, timeout=15.0):
        self.write()
        conf = os.path.join(self.root, 'dovecot.conf')
        out = open(os.path.join(self.root, 'stdout'), 'wb')
        self.proc = harness.register_process(subprocess.Popen(
            ['dovecot', '-F', '-c', conf], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT))
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'dovecot exited with {self.proc.returncode}: {self.diagnostics()}')
            # haproxy = yes ports are only checked for LISTEN: a bare connect would be logged as an error
            if (self._greets(self.imap_port, b'* OK') and self._greets(self.pop3_port, b'+OK')
                    and all(harness.port_in_listen_state(p)
                            for p in (self.imap_proxy_port, self.pop3_proxy_port, self.auth_port))):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f'dovecot not ready within {timeout}s: {self.diagnostics()}')

    @staticmethod
    def _greets(port, prefix):
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
                s.settimeout(3)
                data = b''
                while b'\n' not in data:
                    d = s.recv(1024)
                    if not d:
                        break
                    data += d
                # "Waiting for authentication process" is an OK too; wait for the real greeting
                return data.startswith(prefix) and b'Waiting' not in data
        except OSError:
            return False

    def diagnostics(self):
        parts = []
        for name in ('stdout', 'dovecot.log'):
            try:
                with open(os.path.join(self.root, name), errors='replace') as f:
                    parts.append(f'--- {name} ---\n' + f.read()[-3000:])
            except OSError:
                pass
        return '\n'.join(parts)

    def wait_login(self, service, rport, since=0, timeout=10.0, what='Login'):
        """The `SERVICE-login: Info: WHAT: ...` line (WHAT a regex: `Login`, `Login failed`,
        `Disconnected`, ...) whose rport is rport, as a dict of its key=value elements plus 'secured'
        (bool) and 'line'."""
        m = self.wait_log(rf'^.*{service}-login: Info: (?:{what})(?::| \().*\brport={rport}\b.*$', since, timeout)
        line = m.group(0)
        fields = dict(re.findall(r'\b([a-z_]+)=<?([^,>\s]*)>?', line))
        fields['secured'] = bool(re.search(r', secured(,|$)', line))
        fields['line'] = line
        return fields

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
