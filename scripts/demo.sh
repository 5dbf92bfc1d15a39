#!/usr/bin/env bash
# tlsfront in front of a real local Dovecot (Debian's), with a generated certificate.
#
#   sudo scripts/demo.sh               # install deps, build, start Dovecot + tlsfront, stay in the
#                                      # foreground until Ctrl-C / SIGTERM, then stop both
#   sudo scripts/demo.sh --self-test   # the same, but exit 0/1 after the self-check
#
# Environment (all optional):
#   TLSFRONT_DEMO_DIR         work directory (default /tmp/tlsfront-demo): certs, configs, logs, Maildir
#   TLSFRONT_DEMO_IMAPS_PORT  tlsfront IMAPS port (default 10993)
#   TLSFRONT_DEMO_POP3S_PORT  tlsfront POP3S port (default 10995)
#   TLSFRONT_DEMO_IMAP_PORT   Dovecot plain IMAP port behind it (default 10143)
#   TLSFRONT_DEMO_POP3_PORT   Dovecot plain POP3 port behind it (default 10110)
#   TLSFRONT_BIN              use this tlsfront binary and skip the install and build steps
#
# Runs as root: Dovecot is started as a root daemon (it drops to its own users), the mail user is
# uid 65534. Everything listens on 127.0.0.1 only.
set -euo pipefail

SELF_TEST=0
case "${1:-}" in
  --self-test) SELF_TEST=1 ;;
  "") ;;
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--self-test]" >&2; exit 2 ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${TLSFRONT_DEMO_DIR:-/tmp/tlsfront-demo}
IMAPS_PORT=${TLSFRONT_DEMO_IMAPS_PORT:-10993}
POP3S_PORT=${TLSFRONT_DEMO_POP3S_PORT:-10995}
IMAP_PORT=${TLSFRONT_DEMO_IMAP_PORT:-10143}
POP3_PORT=${TLSFRONT_DEMO_POP3_PORT:-10110}
NAME=mail.example.test
USER_NAME=testuser
USER_PASS=testpass
MAIL_UID=65534

say() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] ERROR: %s\n' "$*" >&2; exit 1; }

case "$DIR" in
  *[[:space:]]*) die "TLSFRONT_DEMO_DIR must not contain spaces (Dovecot's passwd-file args are split on them)" ;;
  /*) ;;
  *) DIR=$(pwd)/$DIR ;;
esac
[ "$(id -u)" -eq 0 ] || die "run as root (Dovecot is started as a root daemon): sudo $0 $*"

# --- 1. dependencies and build ----------------------------------------------------------------
if [ -n "${TLSFRONT_BIN:-}" ]; then
  BIN=$TLSFRONT_BIN
  [ -x "$BIN" ] || die "TLSFRONT_BIN=$BIN is not an executable"
  say "using $BIN (install and build skipped)"
else
  "$REPO/scripts/install-deps.sh"
  cd "$REPO"
  if [ -f build/build.ninja ]; then
    meson setup --reconfigure build >/dev/null
  else
    meson setup build
  fi
  meson compile -C build
  BIN=$REPO/build/tlsfront
fi
for tool in dovecot openssl curl ss; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done

for p in "$IMAPS_PORT" "$POP3S_PORT" "$IMAP_PORT" "$POP3_PORT"; do
  if ss -Hltn "sport = :$p" | grep -q .; then
    die "port $p is already in use; pick others with TLSFRONT_DEMO_*_PORT (see $0 --help)"
  fi
done

# --- 2. work directory, certificate -------------------------------------------------------------
mkdir -p "$DIR"/tls "$DIR"/dovecot "$DIR"/mail/"$USER_NAME"/Maildir/{cur,new,tmp}
# 755: Dovecot's auth process (user dovecot) and mail processes (uid 65534) must traverse it.
chmod 755 "$DIR" "$DIR/dovecot"
cd "$DIR"
if [ ! -s tls/server.pem ] || [ ! -s tls/server.key ] || [ ! -s tls/ca.pem ]; then
  say "generating a demo CA and a certificate for $NAME, localhost, 127.0.0.1 in $DIR/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tlsfront Demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout tls/ca.key -out tls/ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$NAME" -keyout tls/server.key -out tls/server.csr 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$NAME" > tls/server.ext
  openssl x509 -req -in tls/server.csr -CA tls/ca.pem -CAkey tls/ca.key -set_serial "0x$(openssl rand -hex 8)" \
    -days 825 -extfile tls/server.ext -out tls/server.pem 2>/dev/null
  chmod 600 tls/ca.key tls/server.key
fi

# --- 3. Dovecot: plaintext IMAP/POP3 on 127.0.0.1 (the "legacy" backend), no PROXY protocol -----
echo "$USER_NAME:{PLAIN}$USER_PASS:$MAIL_UID:$MAIL_UID::$DIR/mail/$USER_NAME::" > dovecot/users
cat > dovecot/dovecot.conf <<EOF
# Written by scripts/demo.sh: a self-contained Dovecot (no !include of /etc/dovecot).
protocols = imap pop3
listen = 127.0.0.1
base_dir = $DIR/dovecot/run
state_dir = $DIR/dovecot/state
instance_name = tlsfront-demo
log_path = $DIR/dovecot/dovecot.log
ssl = no
# Plaintext LOGIN stays forbidden for remote clients; tlsfront connects from 127.0.0.1 to 127.0.0.1,
# which Dovecot 2.3 counts as secured.
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_verbose = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/dovecot/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DIR/dovecot/users
}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
service imap-login {
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $POP3_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
EOF
# A first message, "delivered" by writing a file into the Maildir (only into an empty mailbox).
MD=mail/$USER_NAME/Maildir
if [ -z "$(ls -A "$MD/new")" ] && [ -z "$(ls -A "$MD/cur")" ]; then
  printf '%s\r\n' "From: tlsfront demo <postmaster@example.test>" "To: $USER_NAME@example.test" \
    "Subject: Welcome to tlsfront" "Date: $(date -R)" "Message-ID: <demo-$(date +%s)@example.test>" "" \
    "This message reached you through tlsfront (TLS) and Dovecot (plaintext on 127.0.0.1)." \
    > "$MD/new/$(date +%s).M1P$$.demo"
fi
chown -R "$MAIL_UID:$MAIL_UID" mail

# --- 4. tlsfront config -------------------------------------------------------------------------
cat > tlsfront.toml <<EOF
# Written by scripts/demo.sh. See packaging/tlsfront.example.toml for every key.
[server]
handshake_timeout = "10s"
connect_timeout = "5s"
shutdown_grace = "5s"
log_format = "text"

[tls]
cert = "$DIR/tls/server.pem"
key = "$DIR/tls/server.key"

[[listener]]
name = "imaps"
listen = "127.0.0.1:$IMAPS_PORT"
protocol = "imap"
backend = "127.0.0.1:$IMAP_PORT"

[[listener]]
name = "pop3s"
listen = "127.0.0.1:$POP3S_PORT"
protocol = "pop3"
backend = "127.0.0.1:$POP3_PORT"
EOF
say "checking the config: $BIN --check -c $DIR/tlsfront.toml"
"$BIN" --check -c "$DIR/tlsfront.toml" > check.out 2>&1 || { cat check.out >&2; die "tlsfront --check failed"; }
sed 's/^/    /' check.out

# --- 5. start both, stop both on exit ------------------------------------------------------------
DOVECOT_PID=""
TLSFRONT_PID=""
TAIL_PID=""
stop_pid() {  # stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1 name=$2 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop in 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$TAIL_PID" ]; then kill "$TAIL_PID" 2>/dev/null || true; TAIL_PID=""; fi
  if [ -n "$TLSFRONT_PID$DOVECOT_PID" ]; then say "stopping tlsfront and Dovecot"; fi
  stop_pid "$TLSFRONT_PID" tlsfront
  stop_pid "$DOVECOT_PID" dovecot
  TLSFRONT_PID=""; DOVECOT_PID=""
}
trap 'cleanup' EXIT
trap 'cleanup; exit 0' INT TERM

: > dovecot/dovecot.log
dovecot -F -c "$DIR/dovecot/dovecot.conf" > dovecot/stdout 2>&1 &
DOVECOT_PID=$!
greets() {  # greets PORT PREFIX: the service answers with its real greeting
  local line=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  IFS= read -r -t 3 line <&3 || true
  exec 3>&- 3<&-
  [[ "$line" == "$2"* && "$line" != *Waiting* ]]
}
ready=0
for _ in $(seq 1 100); do
  kill -0 "$DOVECOT_PID" 2>/dev/null || break
  if greets "$IMAP_PORT" "* OK" && greets "$POP3_PORT" "+OK"; then ready=1; break; fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  cat dovecot/stdout dovecot/dovecot.log >&2 || true
  die "Dovecot did not start (see above)"
fi
say "Dovecot is up: IMAP 127.0.0.1:$IMAP_PORT, POP3 127.0.0.1:$POP3_PORT (plaintext, local only)"

: > tlsfront.log
"$BIN" -c "$DIR/tlsfront.toml" 2>>tlsfront.log &
TLSFRONT_PID=$!
ready=0
for _ in $(seq 1 150); do
  kill -0 "$TLSFRONT_PID" 2>/dev/null || break
  if grep -q 'event=ready' tlsfront.log; then ready=1; break; fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  cat tlsfront.log >&2
  die "tlsfront did not become ready (log above)"
fi
say "tlsfront is up: IMAPS 127.0.0.1:$IMAPS_PORT, POP3S 127.0.0.1:$POP3S_PORT"

# --- 6. self-check through tlsfront -----------------------------------------------------------------
CURL=(curl -sS --max-time 15 --cacert "$DIR/tls/ca.pem" --user "$USER_NAME:$USER_PASS")
failed=0
check() {  # check DESCRIPTION EXPECTED-REGEX CURL-ARGS...
  local what=$1 want=$2 out
  shift 2
  if out=$("${CURL[@]}" "$@" 2>&1) && grep -Eq "$want" <<<"$out"; then
    say "self-check ok:     $what"
  else
    say "self-check FAILED: $what"; printf '%s\n' "$out" | sed 's/^/    /' >&2
    failed=1
  fi
}
check "curl imaps LIST (INBOX listed)" 'INBOX' \
  --resolve "$NAME:$IMAPS_PORT:127.0.0.1" "imaps://$NAME:$IMAPS_PORT/"
check "curl imaps FETCH of the first message" 'Subject: Welcome to tlsfront' \
  --resolve "$NAME:$IMAPS_PORT:127.0.0.1" "imaps://$NAME:$IMAPS_PORT/INBOX;UID=1"
check "curl pop3s LIST" '^1 [0-9]+' \
  --resolve "$NAME:$POP3S_PORT:127.0.0.1" "pop3s://$NAME:$POP3S_PORT/"

# --- 7. how to connect ------------------------------------------------------------------------------
cat <<EOF

tlsfront is terminating TLS in front of Dovecot. Connect with (user $USER_NAME, password $USER_PASS):

  openssl s_client -connect 127.0.0.1:$IMAPS_PORT -servername $NAME -CAfile $DIR/tls/ca.pem -crlf
      then type:  a LOGIN $USER_NAME $USER_PASS   /   b SELECT INBOX   /   c FETCH 1 BODY[]   /   d LOGOUT

  curl --cacert $DIR/tls/ca.pem --resolve $NAME:$IMAPS_PORT:127.0.0.1 \\
       --user $USER_NAME:$USER_PASS "imaps://$NAME:$IMAPS_PORT/INBOX;UID=1"

  curl --cacert $DIR/tls/ca.pem --resolve $NAME:$POP3S_PORT:127.0.0.1 \\
       --user $USER_NAME:$USER_PASS "pop3s://$NAME:$POP3S_PORT/1"

  openssl s_client -connect 127.0.0.1:$POP3S_PORT -servername $NAME -CAfile $DIR/tls/ca.pem -crlf

Files: config $DIR/tlsfront.toml, log $DIR/tlsfront.log (one line per connection),
       Dovecot $DIR/dovecot/dovecot.conf and $DIR/dovecot/dovecot.log
EOF

if [ "$SELF_TEST" = 1 ]; then
  if [ "$failed" = 0 ]; then say "self-test passed"; else say "self-test FAILED"; fi
  cleanup
  exit "$failed"
fi
[ "$failed" = 0 ] || say "the self-check failed (see above); leaving everything running so you can look"

echo
say "running; connection log follows. Ctrl-C (or SIGTERM) stops tlsfront and Dovecot."
tail -n +1 -f tlsfront.log &
TAIL_PID=$!
# Stay in the foreground until a signal arrives (the trap stops both) or tlsfront exits by itself.
rc=0
while kill -0 "$TLSFRONT_PID" 2>/dev/null; do
  if wait "$TLSFRONT_PID" 2>/dev/null; then rc=0; else rc=$?; fi
done
say "tlsfront exited by itself (status $rc)"
TLSFRONT_PID=""
exit 1
