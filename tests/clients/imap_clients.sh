#!/usr/bin/env bash
# Real IMAP clients against the fake IMAP server: curl (LIST, FETCH by UID
# and by index, SEARCH, each login method, STARTTLS with --ssl-reqd and a
# CA, imaps, STORE + EXPUNGE as custom requests, an upload by APPEND) and
# Python's imaplib (LOGIN, a LOGIN with a literal, AUTHENTICATE PLAIN,
# CRAM-MD5, SELECT, SEARCH, FETCH, STORE, EXPUNGE, UID EXPUNGE, APPEND,
# STARTTLS, IMAP4_SSL), plus a
# message sent with smtplib and found by UID SEARCH HEADER, and
# `mailprobe roundtrip` over the same servers. Each server is held up by
# `mailprobe serve` on 127.0.0.1.
#
# usage: tests/clients/imap_clients.sh [MAILPROBE]   (a path from the
# repo root; default: $MAILPROBE or build/mailprobe). Prints one line per check and
# "N passed, N failed"; exits non-zero when a check failed (or a client
# is missing).
set -u
cd "$(dirname "$0")/../.." || exit 1
MP=${1:-${MAILPROBE:-build/mailprobe}}
USER_NAME=probe@example.test
PASS=s3cret
HOST=mx.example.test
passed=0
failed=0
TMP=$(mktemp -d)
SERVE_PID=

cleanup() {
  stop_serve
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() {
  passed=$((passed + 1))
  echo "ok   $1"
}

bad() {
  failed=$((failed + 1))
  echo "FAIL $1"
  [ -n "${2:-}" ] && sed 's/^/     | /' "$2" | head -40
}

# Starts `mailprobe serve CASE`; sets PORT (of the server named by $2,
# default mx), SMTP_PORT (server "smtp", if any) and CA.
start_serve() {
  local case=$1 name=${2:-mx} out=$TMP/serve.out
  : >"$out"
  "$MP" serve "$case" >"$out" 2>"$TMP/serve.err" &
  SERVE_PID=$!
  for _ in $(seq 1 100); do
    grep -q '^CA ' "$out" && break
    sleep 0.05
  done
  PORT=$(awk -v n="$name" '$1 == n { split($3, a, ":"); print a[2] }' "$out")
  SMTP_PORT=$(awk '$1 == "smtp" { split($3, a, ":"); print a[2] }' "$out")
  CA=$(awk '$1 == "CA" { print $2 }' "$out")
  if [ -z "$PORT" ] || [ -z "$CA" ]; then
    bad "serve $case" "$TMP/serve.err"
    return 1
  fi
}

stop_serve() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=
  fi
}

for tool in curl python3 "$MP"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL missing $tool"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# curl against the served IMAP port, by the certificate's name.
icurl() {
  curl -sS --max-time 10 --resolve "$HOST:$PORT:127.0.0.1" "$@"
}

# expect NAME PATTERN -- COMMAND...: the command succeeds and its output
# (stdout and stderr) matches the extended regex.
expect() {
  local name=$1 pat=$2
  shift 3
  # curl passes the server's CRLFs through.
  if "$@" >"$TMP/out" 2>&1 && tr -d '\r' <"$TMP/out" | grep -Eq -- "$pat"; then
    ok "$name"
  else
    bad "$name" "$TMP/out"
  fi
}

# expect_fail NAME RC -- COMMAND...: the command exits with RC.
expect_fail() {
  local name=$1 want=$2 rc
  shift 3
  "$@" >"$TMP/out" 2>&1
  rc=$?
  if [ "$rc" = "$want" ]; then
    ok "$name"
  else
    echo "exit $rc, expected $want" >>"$TMP/out"
    bad "$name" "$TMP/out"
  fi
}

# ---- curl, plain IMAP (3 seeded messages) ---------------------------------
if start_serve cases/imap/happy_tls_none.yaml; then
  U="imap://$HOST:$PORT"
  A=(-u "$USER_NAME:$PASS")
  expect "curl LIST INBOX" '^\* LIST \(\\HasNoChildren\) "/" INBOX' -- \
    icurl "${A[@]}" "$U/INBOX"
  expect "curl UID FETCH 2 BODY[]" '^Subject: seeded message 2' -- \
    icurl "${A[@]}" "$U/INBOX/;UID=2"
  expect "curl FETCH by index 3" '^Subject: seeded message 3' -- \
    icurl "${A[@]}" "$U/INBOX/;MAILINDEX=3"
  expect "curl SEARCH ALL" '^\* SEARCH 1 2 3' -- icurl "${A[@]}" "$U/INBOX?ALL"
  expect "curl SEARCH SUBJECT" '^\* SEARCH 2$' -- \
    icurl "${A[@]}" "$U/INBOX?SUBJECT%20%22message%202%22"
  expect "curl default mechanism is CRAM-MD5" 'A00[0-9] OK Logged in' -- \
    sh -c "curl -v -sS --max-time 10 --resolve $HOST:$PORT:127.0.0.1 \
      -u $USER_NAME:$PASS $U/INBOX 2>&1 | grep -A3 'AUTHENTICATE CRAM-MD5'"
  expect "curl AUTHENTICATE PLAIN with SASL-IR" \
    '> A00[0-9] AUTHENTICATE PLAIN [A-Za-z0-9+/=]+$' -- \
    sh -c "curl -v -sS --max-time 10 --resolve $HOST:$PORT:127.0.0.1 \
      --login-options AUTH=PLAIN -u $USER_NAME:$PASS $U/INBOX 2>&1"
  expect "curl AUTHENTICATE LOGIN" '> A00[0-9] AUTHENTICATE LOGIN' -- \
    sh -c "curl -v -sS --max-time 10 --resolve $HOST:$PORT:127.0.0.1 \
      --login-options AUTH=LOGIN -u $USER_NAME:$PASS $U/INBOX 2>&1"
  # CURLE_LOGIN_DENIED
  expect_fail "curl wrong password is refused" 67 -- \
    icurl -u "$USER_NAME:wrong" "$U/INBOX"
  # CURLE_USE_SSL_FAILED: no STARTTLS here.
  expect_fail "curl --ssl-reqd without STARTTLS fails" 64 -- \
    icurl --ssl-reqd -u "$USER_NAME:$PASS" "$U/INBOX"
  expect "curl STORE +FLAGS \\Deleted" '^\* 1 FETCH \(FLAGS \(\\Deleted\)\)' -- \
    icurl "${A[@]}" -X 'STORE 1 +FLAGS (\Deleted)' "$U/INBOX"
  expect "curl EXPUNGE" '^\* 1 EXPUNGE' -- icurl "${A[@]}" -X EXPUNGE "$U/INBOX"
  expect "curl SEARCH after EXPUNGE" '^\* SEARCH 1 2$' -- \
    icurl "${A[@]}" "$U/INBOX?ALL"
  # curl -T to a mailbox URL is APPEND with a synchronizing literal.
  printf 'From: %s\r\nSubject: uploaded by curl\r\n\r\nhello\r\n' \
    "$USER_NAME" >"$TMP/upload.eml"
  expect "curl upload (APPEND)" 'OK \[APPENDUID [0-9]+ 4\] APPEND completed' -- \
    sh -c "curl -v -sS --max-time 10 --resolve $HOST:$PORT:127.0.0.1 \
      -u $USER_NAME:$PASS -T $TMP/upload.eml $U/INBOX 2>&1"
  expect "curl SEARCH finds the upload" '^\* SEARCH 3$' -- \
    icurl "${A[@]}" "$U/INBOX?SUBJECT%20%22uploaded%20by%20curl%22"
  stop_serve
fi

# ---- curl, STARTTLS and implicit TLS --------------------------------------
if start_serve cases/imap/happy_tls_starttls.yaml; then
  U="imap://$HOST:$PORT"
  expect "curl --ssl-reqd STARTTLS, CA verified, UID FETCH" \
    '^Subject: seeded message 1' -- \
    icurl --ssl-reqd --cacert "$CA" -u "$USER_NAME:$PASS" "$U/INBOX/;UID=1"
  expect "curl STARTTLS happened before login" \
    'A00[0-9] OK Begin TLS negotiation now' -- \
    sh -c "curl -v -sS --max-time 10 --resolve $HOST:$PORT:127.0.0.1 \
      --ssl-reqd --cacert $CA -u $USER_NAME:$PASS $U/INBOX 2>&1"
  # CURLE_PEER_FAILED_VERIFICATION without the CA.
  expect_fail "curl STARTTLS without the CA fails verification" 60 -- \
    icurl --ssl-reqd -u "$USER_NAME:$PASS" "$U/INBOX"
  stop_serve
fi
# No SASL-IR: PLAIN waits for the empty continuation.
if start_serve cases/imap/auth_plain_no_sasl_ir.yaml; then
  expect "curl AUTHENTICATE PLAIN, continuation (no SASL-IR)" \
    '> A00[0-9] AUTHENTICATE PLAIN$' -- \
    sh -c "curl -v -sS --max-time 10 --resolve $HOST:$PORT:127.0.0.1 \
      -u $USER_NAME:$PASS imap://$HOST:$PORT/INBOX 2>&1"
  stop_serve
fi
# No AUTH= at all: the LOGIN command.
if start_serve cases/imap/auth_login_command.yaml; then
  expect "curl LOGIN command" '> A00[0-9] LOGIN ' -- \
    sh -c "curl -v -sS --max-time 10 --resolve $HOST:$PORT:127.0.0.1 \
      -u $USER_NAME:$PASS imap://$HOST:$PORT/INBOX 2>&1"
  stop_serve
fi
if start_serve cases/imap/happy_tls_implicit.yaml; then
  expect "curl imaps LIST" '^\* LIST \(\\HasNoChildren\) "/" INBOX' -- \
    icurl --cacert "$CA" -u "$USER_NAME:$PASS" "imaps://$HOST:$PORT/INBOX"
  stop_serve
fi

# ---- Python imaplib -------------------------------------------------------
cat >"$TMP/imap.py" <<'PYEOF'
import base64, imaplib, smtplib, socket, ssl, sys, uuid

mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
smtp_port = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else 0
USER, PASS, HOST = "probe@example.test", "s3cret", "mx.example.test"


class Local(imaplib.IMAP4):
    """Connects to 127.0.0.1 but names (and verifies) HOST."""

    def _create_socket(self, timeout):
        return socket.create_connection(("127.0.0.1", self.port), timeout)


class LocalSSL(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def ctx():
    c = ssl.create_default_context(cafile=ca)
    return c


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else " " + repr(detail)))
    return cond


def run_plain():
    M = Local(HOST, port, timeout=10)
    check("imaplib greeting and IMAP4rev1", "IMAP4REV1" in M.capabilities, M.capabilities)
    typ, _ = M.login(USER, PASS)
    check("imaplib LOGIN", typ == "OK")
    typ, dat = M.select("INBOX")
    check("imaplib SELECT counts 3", typ == "OK" and dat == [b"3"], dat)
    typ, dat = M.search(None, "ALL")
    check("imaplib SEARCH ALL", dat == [b"1 2 3"], dat)
    typ, dat = M.uid("SEARCH", "HEADER", "Subject", "message 2")
    check("imaplib UID SEARCH HEADER", dat == [b"2"], dat)
    typ, dat = M.fetch("1", "(RFC822)")
    body = dat[0][1] if typ == "OK" and dat and isinstance(dat[0], tuple) else b""
    check("imaplib FETCH RFC822", b"Subject: seeded message 1" in body, dat)
    typ, dat = M.uid("FETCH", "2:3", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subs = [d[1] for d in dat if isinstance(d, tuple)]
    check("imaplib UID FETCH BODY.PEEK[HEADER.FIELDS]",
          subs == [b"Subject: seeded message 2\r\n\r\n",
                   b"Subject: seeded message 3\r\n\r\n"], dat)
    typ, dat = M.fetch("1:3", "(FLAGS)")
    check("imaplib PEEK left \\Seen off", dat == [b"1 (FLAGS (\\Seen))", b"2 (FLAGS ())",
                                             b"3 (FLAGS ())"], dat)
    typ, dat = M.store("1,3", "+FLAGS", "\\Deleted")
    check("imaplib STORE +FLAGS \\Deleted", typ == "OK" and len(dat) == 2, dat)
    typ, dat = M.uid("EXPUNGE", "3")
    # imaplib's uid() collects FETCH answers; the EXPUNGEs wait here.
    check("imaplib UID EXPUNGE 3 only",
          typ == "OK" and M.response("EXPUNGE") == ("EXPUNGE", [b"3"]), dat)
    typ, dat = M.expunge()
    check("imaplib EXPUNGE the rest", typ == "OK" and dat == [b"1"], dat)
    typ, dat = M.noop()
    check("imaplib NOOP", typ == "OK")
    typ, dat = M.status("INBOX", "(MESSAGES UIDNEXT)")
    check("imaplib STATUS", dat == [b"INBOX (MESSAGES 1 UIDNEXT 4)"], dat)
    M.close()
    typ, dat = M.logout()
    check("imaplib LOGOUT", typ == "BYE", (typ, dat))
    # A new session sees what the first left.
    M = Local(HOST, port, timeout=10)
    M.literal = PASS.encode()  # LOGIN with a synchronizing literal
    typ, dat = M._simple_command("LOGIN", USER)
    check("imaplib LOGIN with a literal", typ == "OK", dat)
    M.state = "AUTH"
    typ, dat = M.select("INBOX", readonly=True)
    check("imaplib EXAMINE after expunge counts 1", dat == [b"1"], dat)
    typ, dat = M.store("1", "+FLAGS", "\\Flagged")
    check("imaplib STORE refused read-only",
          typ == "NO" and b"READ-ONLY" in dat[0], (typ, dat))
    M.logout()
    M = Local(HOST, port, timeout=10)
    typ, dat = M.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASS)).encode())
    check("imaplib AUTHENTICATE PLAIN", typ == "OK", dat)
    M.logout()
    M = Local(HOST, port, timeout=10)
    typ, dat = M.login_cram_md5(USER, PASS)
    check("imaplib AUTHENTICATE CRAM-MD5", typ == "OK", dat)
    M.logout()
    M = Local(HOST, port, timeout=10)
    try:
        M.login(USER, "wrong")
        check("imaplib wrong password refused", False, "logged in")
    except M.error as e:
        check("imaplib wrong password refused", "AUTHENTICATIONFAILED" in str(e), e)
    M.logout()


def run_append():
    msg = ("From: %s\r\nTo: %s\r\nSubject: saved by imaplib\r\n\r\nhello\r\n"
           % (USER, USER)).encode()
    M = Local(HOST, port, timeout=10)
    M.login(USER, PASS)
    typ, dat = M.append("INBOX", None, None, msg)
    check("imaplib APPEND (synchronizing literal) says APPENDUID",
          typ == "OK" and dat[0].startswith(b"[APPENDUID ") and
          dat[0].split(b"]")[0].split()[-1] == b"4", (typ, dat))
    typ, dat = M.append("inbox", "(\\Seen \\Draft)", '"05-Nov-2026 10:00:07 +0200"', msg)
    check("imaplib APPEND with flags and a date-time", typ == "OK", (typ, dat))
    typ, dat = M.append("Sent", None, None, msg)
    check("imaplib APPEND to another mailbox: TRYCREATE",
          typ == "NO" and b"[TRYCREATE]" in dat[0], (typ, dat))
    typ, dat = M.select("INBOX")
    check("imaplib SELECT counts the appended", dat == [b"5"], dat)
    typ, dat = M.append("INBOX", None, None, msg)
    # select() reads EXISTS without taking it: the last one is the news.
    check("imaplib APPEND while selected: EXISTS",
          typ == "OK" and M.response("EXISTS")[1][-1:] == [b"6"], (typ, dat))
    typ, dat = M.uid("FETCH", "4:5", "(FLAGS INTERNALDATE BODY.PEEK[])")
    bodies = [d[1] for d in dat if isinstance(d, tuple)]
    check("imaplib UID FETCH the appended bytes", bodies == [msg, msg], dat)
    check("imaplib the flags and date kept",
          len(dat) > 2 and isinstance(dat[2], tuple) and
          b"FLAGS (\\Seen \\Draft)" in dat[2][0] and
          b'INTERNALDATE " 5-Nov-2026 08:00:07 +0000"' in dat[2][0], dat)
    M.logout()


def run_starttls():
    M = Local(HOST, port, timeout=10)
    check("imaplib STARTTLS offered", "STARTTLS" in M.capabilities, M.capabilities)
    typ, _ = M.starttls(ssl_context=ctx())
    check("imaplib STARTTLS, CA verified", typ == "OK")
    check("imaplib capabilities asked again, no STARTTLS",
          "STARTTLS" not in M.capabilities and "AUTH=PLAIN" in M.capabilities,
          M.capabilities)
    typ, _ = M.login(USER, PASS)
    typ, dat = M.select("INBOX")
    check("imaplib SELECT inside TLS", dat == [b"2"], dat)
    M.logout()


def run_implicit():
    M = LocalSSL(HOST, port, ssl_context=ctx(), timeout=10)
    typ, _ = M.login(USER, PASS)
    typ, dat = M.list()
    check("imaplib IMAP4_SSL LIST", dat == [b'(\\HasNoChildren) "/" INBOX'], dat)
    M.logout()


def run_roundtrip():
    token = "clients-" + uuid.uuid4().hex
    msg = ("From: %s\r\nTo: %s\r\nSubject: round trip\r\nX-Mailprobe-Token: %s\r\n"
           "\r\nhello\r\n" % (USER, USER, token))
    s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=10)
    s.sendmail(USER, [USER], msg)
    s.quit()
    M = Local(HOST, port, timeout=10)
    M.login(USER, PASS)
    M.select("INBOX")
    typ, dat = M.uid("SEARCH", "HEADER", "X-Mailprobe-Token", token[:12])
    uids = dat[0].split()
    check("smtplib then imaplib UID SEARCH HEADER X-Mailprobe-Token", len(uids) == 1, dat)
    uid = uids[0].decode() if uids else "0"
    typ, dat = M.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (X-Mailprobe-Token)])")
    hdr = dat[0][1] if dat and isinstance(dat[0], tuple) else b""
    check("imaplib UID FETCH the token header", hdr == ("X-Mailprobe-Token: %s\r\n\r\n" % token).encode(), dat)
    typ, dat = M.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
    check("imaplib UID STORE +FLAGS.SILENT", typ == "OK" and dat == [None], dat)
    typ, dat = M.uid("EXPUNGE", uid)
    check("imaplib UID EXPUNGE the message",
          typ == "OK" and M.response("EXPUNGE") == ("EXPUNGE", [b"1"]), dat)
    typ, dat = M.uid("SEARCH", "HEADER", "X-Mailprobe-Token", token)
    check("imaplib the message is gone", dat == [b""], dat)
    M.logout()


{"plain": run_plain, "append": run_append, "starttls": run_starttls,
 "implicit": run_implicit, "roundtrip": run_roundtrip}[mode]()
PYEOF

# Runs the Python part; counts its ok/FAIL lines.
py() {
  python3 "$TMP/imap.py" "$@" >"$TMP/py.out" 2>&1
  local rc=$?
  cat "$TMP/py.out"
  passed=$((passed + $(grep -c '^ok ' "$TMP/py.out")))
  failed=$((failed + $(grep -c '^FAIL ' "$TMP/py.out")))
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    echo "FAIL imaplib $1 ended with an exception (exit $rc)"
  fi
}

if start_serve cases/imap/happy_tls_none.yaml; then
  py plain "$PORT" "$CA"
  stop_serve
fi
if start_serve cases/imap/happy_tls_none.yaml; then
  py append "$PORT" "$CA"
  stop_serve
fi
if start_serve cases/imap/happy_tls_starttls.yaml; then
  py starttls "$PORT" "$CA"
  stop_serve
fi
if start_serve cases/imap/happy_tls_implicit.yaml; then
  py implicit "$PORT" "$CA"
  stop_serve
fi

# ---- SMTP in, IMAP out: one store behind both servers ----------------------
cat >"$TMP/roundtrip.yaml" <<'EOF'
name: an SMTP and an IMAP server sharing one mail store
servers:
  smtp:
    protocol: smtp
    users: { probe@example.test: s3cret }
  mx:
    protocol: imap
    users: { probe@example.test: s3cret }
probe:
  type: imap
  server: mx
expect:
  status: ok
EOF
if start_serve "$TMP/roundtrip.yaml"; then
  py roundtrip "$PORT" "$CA" "$SMTP_PORT"
  printf '%s' "$PASS" >"$TMP/pw"
  expect "mailprobe roundtrip (SMTP send, IMAP search/fetch/store/expunge)" \
    '^ROUNDTRIP OK' -- "$MP" roundtrip --send "smtp://127.0.0.1:$SMTP_PORT" \
    --fetch "imap://127.0.0.1:$PORT" --to "$USER_NAME" --user "$USER_NAME" \
    --password-file "$TMP/pw" --send-tls none --fetch-tls none --poll 100ms \
    --email-timeout 5s --timeout 5s
  stop_serve
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
