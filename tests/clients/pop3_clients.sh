#!/bin/sh
# Real POP3 clients (curl and Python's poplib) against the fake POP3 server,
# held up by `mailprobe serve` on loopback from the case files in
# cases/pop3/. Proves the server speaks POP3 the way deployed clients
# expect: USER/PASS, APOP, SASL (PLAIN, LOGIN, CRAM-MD5), STLS and implicit
# TLS with the run-time CA, listings, RETR/TOP, and DELE+QUIT deleting for
# real (a second session sees fewer messages).
#
# usage: tests/clients/pop3_clients.sh [MAILPROBE]   (from the repo root;
# default build/mailprobe, or $MAILPROBE). Prints "N passed, N failed" and
# exits non-zero when a check failed or a client is missing.
set -u

BIN=${1:-${MAILPROBE:-build/mailprobe}}
USER_NAME=probe@example.test
PASSWORD=s3cret
HOST=mx.example.test
passed=0
failed=0
PIDS=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pop3-clients.XXXXXX") || exit 1

cleanup() {
  for p in $PIDS; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

ok() {
  passed=$((passed + 1))
  echo "PASS  $1"
}

bad() {
  failed=$((failed + 1))
  echo "FAIL  $1"
  [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/      | /' "$2" | tail -n 25
}

# check NAME LOG COMMAND...: passes when COMMAND exits 0.
check() {
  name=$1
  log=$2
  shift 2
  if "$@" >"$log" 2>&1; then ok "$name"; else bad "$name" "$log"; fi
}

for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "pop3_clients: $tool is not installed"
    echo "0 passed, 1 failed"
    exit 1
  }
done
[ -x "$BIN" ] || {
  echo "pop3_clients: $BIN not found (make all first, or pass the binary)"
  echo "0 passed, 1 failed"
  exit 1
}

# serve CASE: starts `mailprobe serve CASE`, sets PORT and CA.
serve() {
  out=$TMP/serve.$(basename "$1" .yaml)
  : >"$out" # emptied here, not in the child: no stale CA line is polled
  "$BIN" serve "$1" >"$out" 2>&1 &
  PIDS="$PIDS $!"
  i=0
  while ! grep -q '^CA ' "$out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
      bad "serve $1" "$out"
      PORT=""
      return 1
    fi
    sleep 0.05
  done
  PORT=$(awk '$2 == "pop3" { split($3, a, ":"); print a[2]; exit }' "$out")
  CA=$(awk '$1 == "CA" { print $2; exit }' "$out")
  [ -n "$PORT" ]
}

# ---- plain POP3: 3 seeded messages ---------------------------------------
if serve cases/pop3/happy_tls_none.yaml; then
  P=$PORT
  check "curl LIST lists 3 messages" "$TMP/c1" sh -c '
    curl -sS -v --max-time 10 "pop3://127.0.0.1:'"$P"'/" \
      -u "'"$USER_NAME:$PASSWORD"'" >"'"$TMP"'/c1.out" || exit 1
    cat "'"$TMP"'/c1.out"
    [ "$(grep -c "^[0-9][0-9]* [0-9]" "'"$TMP"'/c1.out")" = 3 ]'
  check "curl RETR 2 gets the message" "$TMP/c2" sh -c '
    curl -sS --max-time 10 "pop3://127.0.0.1:'"$P"'/2" \
      -u "'"$USER_NAME:$PASSWORD"'" | tee /dev/stderr |
      grep -q "^Subject: seeded message 2"'
  for mech in PLAIN LOGIN CRAM-MD5; do
    check "curl AUTH=$mech" "$TMP/c3$mech" sh -c '
      curl -sS -v --max-time 10 --login-options "AUTH='"$mech"'" \
        "pop3://127.0.0.1:'"$P"'/" -u "'"$USER_NAME:$PASSWORD"'" 2>&1 |
        tee /dev/stderr | grep -q "^> AUTH '"$mech"'"'
  done
  check "curl with a wrong password is refused (exit 67)" "$TMP/c4" sh -c '
    curl -sS --max-time 10 "pop3://127.0.0.1:'"$P"'/" \
      -u "'"$USER_NAME"':wrong"; [ $? -eq 67 ]'
  check "poplib USER/PASS, STAT, LIST, UIDL, TOP, RETR" "$TMP/p1" \
    python3 - "$P" "$USER_NAME" "$PASSWORD" <<'EOF'
import poplib, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
p = poplib.POP3("127.0.0.1", port, timeout=10)
print(p.getwelcome())
caps = p.capa()
assert "USER" in caps and "TOP" in caps and "UIDL" in caps, caps
p.user(user)
p.pass_(password)
count, size = p.stat()
assert count == 3, (count, size)
resp, listing, _ = p.list()
assert len(listing) == 3, listing
assert sum(int(l.split()[1]) for l in listing) == size
resp, uids, _ = p.uidl()
assert len(set(u.split()[1] for u in uids)) == 3, uids
resp, lines, _ = p.top(1, 0)
assert b"Subject: seeded message 1" in lines and lines[-1] == b"", lines
resp, lines, octets = p.retr(3)
assert b"Subject: seeded message 3" in lines
print(p.quit())
EOF
  check "poplib DELE+QUIT deletes for real, RSET undoes" "$TMP/p2" \
    python3 - "$P" "$USER_NAME" "$PASSWORD" <<'EOF'
import poplib, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def login():
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    p.user(user)
    p.pass_(password)
    return p
p = login()
n = p.stat()[0]
p.dele(1)
p.dele(2)
p.rset()
p.dele(1)
p.quit()
p = login()
assert p.stat()[0] == n - 1, (n, p.stat())
p.quit()
print("deleted one of", n)
EOF
fi

# ---- APOP -------------------------------------------------------------------
if serve cases/pop3/auth_apop.yaml; then
  check "poplib APOP" "$TMP/p3" python3 - "$PORT" "$USER_NAME" "$PASSWORD" <<'EOF'
import poplib, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
p = poplib.POP3("127.0.0.1", port, timeout=10)
print(p.getwelcome())
print(p.apop(user, password))
print(p.stat())
try:
    q = poplib.POP3("127.0.0.1", port, timeout=10)
    q.apop(user, "wrong")
    sys.exit("APOP with a wrong password was accepted")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.quit()
EOF
  P=$PORT
  check "curl AUTH=+APOP" "$TMP/c5" sh -c '
    curl -sS -v --max-time 10 --login-options "AUTH=+APOP" \
      "pop3://127.0.0.1:'"$P"'/" -u "'"$USER_NAME:$PASSWORD"'" 2>&1 |
      tee /dev/stderr | grep -q "^> APOP "'
fi

# ---- STLS ---------------------------------------------------------------------
if serve cases/pop3/happy_tls_starttls.yaml; then
  P=$PORT
  check "curl STLS (--ssl-reqd, verified with the run-time CA)" "$TMP/c6" \
    sh -c '
    curl -sS -v --max-time 10 --ssl-reqd --cacert "'"$CA"'" \
      --resolve "'"$HOST:$P"':127.0.0.1" "pop3://'"$HOST:$P"'/" \
      -u "'"$USER_NAME:$PASSWORD"'" 2>&1 | tee /dev/stderr >"'"$TMP"'/c6.out"
    grep -q "^> STLS" "'"$TMP"'/c6.out" &&
      grep -q "SSL certificate verify ok" "'"$TMP"'/c6.out" &&
      [ "$(grep -c "^[0-9][0-9]* [0-9]" "'"$TMP"'/c6.out")" = 2 ]'
  check "poplib stls() then login" "$TMP/p4" \
    python3 - "$P" "$USER_NAME" "$PASSWORD" "$CA" "$HOST" <<'EOF'
import poplib, socket, ssl, sys
port, user, password, ca, host = sys.argv[1:6]
class Pop3(poplib.POP3):
    # The certificate names mx.example.test; connect by address, verify
    # the name (poplib's stls() checks against self.host).
    def _create_socket(self, timeout):
        return socket.create_connection(("127.0.0.1", int(port)), timeout)
p = Pop3(host, int(port), timeout=10)
assert "STLS" in p.capa()
print(p.stls(context=ssl.create_default_context(cafile=ca)))
assert "STLS" not in p.capa()
p.user(user)
p.pass_(password)
assert p.stat()[0] == 2
print(p.quit())
EOF
fi

# ---- implicit TLS (POP3S) ---------------------------------------------------------
if serve cases/pop3/happy_tls_implicit.yaml; then
  P=$PORT
  check "curl pop3s (implicit TLS)" "$TMP/c7" sh -c '
    curl -sS -v --max-time 10 --cacert "'"$CA"'" \
      --resolve "'"$HOST:$P"':127.0.0.1" "pop3s://'"$HOST:$P"'/" \
      -u "'"$USER_NAME:$PASSWORD"'" 2>&1 | tee /dev/stderr |
      grep -q "SSL certificate verify ok"'
  check "poplib POP3_SSL" "$TMP/p5" \
    python3 - "$P" "$USER_NAME" "$PASSWORD" "$CA" "$HOST" <<'EOF'
import poplib, socket, ssl, sys
port, user, password, ca, host = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
class Pop3s(poplib.POP3_SSL):
    # The certificate names mx.example.test; connect by address.
    def _create_socket(self, timeout):
        sock = socket.create_connection(("127.0.0.1", int(port)), timeout)
        return ctx.wrap_socket(sock, server_hostname=host)
p = Pop3s(host, int(port), context=ctx, timeout=10)
p.user(user)
p.pass_(password)
print(p.stat())
print(p.quit())
EOF
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
