"""A private Postfix 3.7 instance (`postfix -c DIR start|stop`) as the SMTP backend behind an SMTPS
listener: one smtpd on 127.0.0.1 with `smtpd_upstream_proxy_protocol = haproxy` (it requires a
PROXY v1 or v2 header first and ignores TLVs), virtual delivery into the Maildir that the Dovecot
fixture serves, SASL AUTH through Dovecot's auth listener.

Gotchas (Debian 12, Postfix 3.7.11; see docs/testing.md):
- The `postfix` command reports errors only to syslog or a tty; without /dev/log it fails silently.
  diagnostics() runs `postfix check` under `script` (a pty) to see why.
- maillog_file (with the postlog service in master.cf) is the only log; its directory must be listed
  in maillog_file_prefixes (default: /var, /dev/stdout).
- Delivery is asynchronous (cleanup -> qmgr -> virtual): wait for the file in the Maildir.
- Both the queue and config directories are owned by root; data_directory by the postfix user.
"""
import email
import email.policy
import grp
import os
import pwd
import signal
import subprocess
import time

import dovecot
import harness

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
mydomain = example.test
myorigin = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_banner = $myhostname ESMTP tlsfront-it
smtpd_peername_lookup = no
smtpd_client_port_logging = yes
smtp_dns_support_level = disabled
biff = no
alias_maps =
alias_database =
virtual_mailbox_domains = example.test
virtual_mailbox_base = {mail_base}
virtual_mailbox_maps = inline:{{ {user}@example.test={user}/Maildir/ }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth_port}
"""

MASTER_CF = """\
127.0.0.1:{smtp_proxy_port} inet n - n - - smtpd
  -o syslog_name=postfix/proxied
  -o smtpd_upstream_proxy_protocol=haproxy
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
local      unix  - n n -  - local
virtual    unix  - n n -  - virtual
lmtp       unix  - - n -  - lmtp
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


QUEUE_DIRS = [(d, None, 0o700) for d in ('active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold',
                                         'incoming', 'private', 'saved', 'trace')] + [
    ('maildrop', 'postdrop', 0o730), ('public', 'postdrop', 0o710), ('pid', None, 0o755)]


def available():
    """'' when a Postfix can be started here, else why not."""
    return harness.daemon_unavailable('postfix', ['postfix'], 'the postfix package')


class Postfix(harness.LogFile):
    """Delivers testuser@example.test into dovecot_instance's Maildir; SASL via its auth port."""

    def __init__(self, dovecot_instance, root=None):
        self.dovecot = dovecot_instance
        self.root = root or harness.new_dir('postfix')
        os.chmod(self.root, 0o755)
        self.conf_dir = os.path.join(self.root, 'conf')
        self.smtp_proxy_port = harness.free_port()
        self.log_path = os.path.join(self.root, 'maillog')
        self.started = False

    def write(self):
        for sub in ('conf', 'queue', 'data'):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        pw = pwd.getpwnam('postfix')
        postdrop = grp.getgrnam('postdrop').gr_gid
        os.chown(os.path.join(self.root, 'data'), pw.pw_uid, pw.pw_gid)
        # The queue directories as `postfix start` (post-install create-missing) would make them;
        # making them here saves ~2 s of postconf calls on the first start.
        for sub, gid, mode in QUEUE_DIRS:
            path = os.path.join(self.root, 'queue', sub)
            os.makedirs(path, exist_ok=True)
            if sub != 'pid':
                os.chown(path, pw.pw_uid, postdrop if gid == 'postdrop' else pw.pw_gid)
            os.chmod(path, mode)
        with open(os.path.join(self.conf_dir, 'main.cf'), 'w') as f:
            f.write(MAIN_CF.format(root=self.root, mail_base=os.path.join(self.dovecot.root, 'mail'),
                                   user=dovecot.USER, uid=dovecot.MAIL_UID, auth_port=self.dovecot.auth_port))
        with open(os.path.join(self.conf_dir, 'master.cf'), 'w') as f:
            f.write(MASTER_CF.format(smtp_proxy_port=self.smtp_proxy_port))
        # With a just-written main.cf, postfix and every postconf call of `postfix start` sleep and
        # re-read it in 300 ms steps (seen with strace): backdate the files.
        past = time.time() - 60
        for name in ('main.cf', 'master.cf'):
            os.utime(os.path.join(self.conf_dir, name), (past, past))

    def _postfix(self, *args, timeout=30):
        """Output goes to a file, not a pipe: `postfix start` leaves background children
        (postfix-script check-warn) that would hold a pipe open for seconds."""
        with open(os.path.join(self.root, 'postfix-command.out'), 'ab') as out:
            try:
                return subprocess.run(['postfix', '-c', self.conf_dir, *args], stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                return -9

    def start(self, timeout=15.0):
        self.write()
        rc = self._postfix('start')  # daemonizes; returns once master has bound its sockets
        if rc != 0:
            raise RuntimeError(f'postfix start failed (rc {rc}): {self.diagnostics()}')
        self.started = True
        harness.register_cleanup(self.stop)
        # only LISTEN is checked: a bare connect to a PROXY port logs a warning
        if not harness.wait_until(lambda: harness.port_in_listen_state(self.smtp_proxy_port), timeout):
            self.stop()
            raise RuntimeError(f'postfix: port {self.smtp_proxy_port} not listening within {timeout}s: '
                               f'{self.diagnostics()}')
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.root, 'queue', 'pid', 'master.pid')) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, timeout=10.0):
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        self._postfix('stop', timeout=timeout)
        if pid and not harness.wait_until(lambda: not os.path.exists(f'/proc/{pid}'), timeout):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def diagnostics(self):
        """`postfix check` run under a pty (the only way to see its complaints without syslog),
        plus the tail of the maillog."""
        r = harness.run(['script', '-qc', f'postfix -c {self.conf_dir} check', '/dev/null'], timeout=30)
        return (f'--- postfix check (rc {r.returncode}) ---\n{r.stdout.decode(errors="replace")[-2000:]}'
                f'\n--- maillog ---\n{self.log()[-3000:]}')

    # -- delivery -------------------------------------------------------------------------------
    def find_delivered(self, marker):
        """The raw bytes of the first message in the Maildir (new/ or cur/) containing marker."""
        for sub in ('new', 'cur'):
            d = os.path.join(self.dovecot.maildir, sub)
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for n in names:
                try:
                    with open(os.path.join(d, n), 'rb') as f:
                        data = f.read()
                except OSError:
                    continue
                if marker in data:
                    return data
        return None

    def wait_delivered(self, marker, timeout=15.0):
        """Wait until a message containing marker (bytes) is in the Maildir; returns it as an
        email.message.EmailMessage, or raises AssertionError with the maillog tail."""
        data = harness.wait_until(lambda: self.find_delivered(marker), timeout * harness.time_scale(), 0.1)
        if data is None:
            raise AssertionError(f'no message with {marker!r} delivered within {timeout}s; maillog:\n'
                                 + self.log()[-3000:])
        return email.message_from_bytes(data, policy=email.policy.default)


def received_headers(msg):
    """The Received: headers of a message, unfolded, newest first."""
    return [' '.join(str(h).split()) for h in msg.get_all('Received', [])]
