#!/bin/sh
# Secrets: a password never on the command line, never in output (JSON,
# Nagios, JUnit, human reports, debug traces, error messages) and never
# sent in clear unless tls is none (that part is in cases/hostile/secrets_*);
# certificates verified by default, --insecure said out loud; `serve`
# listens on 127.0.0.1 only.
#
# usage: tests/limits/secrets.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"

PW='s3cret-P4ss'
USER_=probe@example.test
# What a careless transcript would show: the password, PLAIN's base64
# ("\0user\0password") and LOGIN's (the password alone).
B64_PLAIN=$(printf '\000%s\000%s' "$USER_" "$PW" | base64)
B64_PW=$(printf '%s' "$PW" | base64)
export PW
# An OAuth access token and what XOAUTH2 and OAUTHBEARER would show of it.
TOKEN='ya29.S3cretT0ken-xyz'
B64_XOAUTH2=$(printf 'user=%s\001auth=Bearer %s\001\001' "$USER_" "$TOKEN" |
  base64 -w0)
B64_TOKEN=$(printf '%s' "$TOKEN" | base64 -w0)

cat >"$TMP/servers.yaml" <<YAML
name: servers for the secrets test
servers:
  mx:
    protocol: smtp
    tls: starttls
    users: { $USER_: "$PW" }
    auth: [PLAIN, LOGIN]
  pop:
    protocol: pop3
    users: { $USER_: "$PW" }
  imp:
    protocol: imap
    tls: implicit
    users: { $USER_: "$PW" }
    auth: []
  tok:
    protocol: imap
    auth: [XOAUTH2, OAUTHBEARER]
    tokens:
      "$TOKEN": { user: $USER_ }
probe:
  type: smtp
  server: mx
expect:
  status: ok
YAML
serve "$TMP/servers.yaml"
MX=$(addr mx)
POP=$(addr pop)
IMP=$(addr imp)
TOK=$(addr tok)

# no_secret FILE WHAT: the file shows no form of the password or token.
no_secret() {
  if grep -qF -e "$PW" -e "$B64_PLAIN" -e "$B64_PW" -e "$TOKEN" \
    -e "$B64_XOAUTH2" -e "$B64_TOKEN" "$1"; then
    bad "$2" "the password or token (or its base64) is in the output"
  else
    ok "$2"
  fi
}

# --- never from argv ----------------------------------------------------
"$BIN" check "smtp://$MX" --user "$USER_" --password "$PW" \
  >"$TMP/argv.out" 2>"$TMP/argv.err"
check "check --password is refused (exit 3)" [ $? -eq 3 ]
check "the refusal names --password-file and --password-env" \
  has "$TMP/argv.err" "--password-file"
"$BIN" check "smtp://$MX" --user "$USER_" "--password=$PW" >/dev/null 2>&1
check "check --password=... is refused too" [ $? -eq 3 ]
"$BIN" roundtrip --send "smtp://$MX" --fetch "pop3://$POP" \
  --to "$USER_" --user "$USER_" --password "$PW" >/dev/null 2>&1
check "roundtrip --password is refused" [ $? -eq 3 ]

# --- JSON transcript ----------------------------------------------------
"$BIN" check "smtp://$MX" --tls none --auth PLAIN --user "$USER_" \
  --password-env PW --format json >"$TMP/plain.json" 2>&1
check "check (PLAIN, tls none) passes" [ $? -eq 0 ]
check "JSON transcript shows AUTH PLAIN ****" \
  has "$TMP/plain.json" '"line": "AUTH PLAIN ****"'
no_secret "$TMP/plain.json" "JSON (PLAIN) holds no password"

printf '%s\n' "$PW" >"$TMP/pwfile"
"$BIN" check "smtp://$MX" --tls none --auth LOGIN --user "$USER_" \
  --password-file "$TMP/pwfile" --format json >"$TMP/login.json" 2>&1
check "check --password-file (LOGIN) passes" [ $? -eq 0 ]
no_secret "$TMP/login.json" "JSON (LOGIN) holds no password"

"$BIN" check "pop3://$POP" --tls none --auth USER --user "$USER_" \
  --password-env PW --format json >"$TMP/pop.json" 2>&1
check "check (POP3 USER/PASS) passes" [ $? -eq 0 ]
check "JSON transcript shows PASS ****" has "$TMP/pop.json" '"line": "PASS ****"'
no_secret "$TMP/pop.json" "JSON (POP3 PASS) holds no password"

"$BIN" check "imaps://$IMP" --cafile "$CA" --servername mx.example.test \
  --auth LOGIN --user "$USER_" --password-env PW --format json \
  >"$TMP/imap.json" 2>&1
check "check (IMAP LOGIN) passes" [ $? -eq 0 ]
check "JSON transcript shows LOGIN with the password masked" \
  has "$TMP/imap.json" "LOGIN \\\"$USER_\\\" ****"
no_secret "$TMP/imap.json" "JSON (IMAP LOGIN) holds no password"

# --- OAuth tokens: never in argv, output or the token command's argv -----
"$BIN" check "imap://$TOK" --user "$USER_" --oauth-token "$TOKEN" \
  >/dev/null 2>"$TMP/tokargv.err"
check "check --oauth-token is refused (exit 3)" [ $? -eq 3 ]
printf '%s\n' "$TOKEN" >"$TMP/tokfile"
for mech in XOAUTH2 OAUTHBEARER; do
  MAILPROBE_DEBUG=1 "$BIN" check "imap://$TOK" --tls none --auth "$mech" \
    --user "$USER_" --oauth-token-file "$TMP/tokfile" --format json \
    >"$TMP/tok.$mech.json" 2>"$TMP/tok.$mech.err"
  check "check ($mech, token file) passes" [ $? -eq 0 ]
  check "the transcript masks the whole $mech message" \
    has "$TMP/tok.$mech.json" "AUTHENTICATE $mech ****\""
  no_secret "$TMP/tok.$mech.json" "JSON ($mech) holds no token"
  no_secret "$TMP/tok.$mech.err" "debug trace ($mech) holds no token"
done
# The token command sees no secret in its argv or environment: it writes
# them to files this test then searches.
cat >"$TMP/tokcmd" <<SH
#!/bin/sh
printf '%s\\n' "\$*" >"$TMP/tokcmd.argv"
env >"$TMP/tokcmd.env"
cat "$TMP/tokfile"
SH
chmod +x "$TMP/tokcmd"
"$BIN" check "imap://$TOK" --tls none --user "$USER_" \
  --oauth-token-command "$TMP/tokcmd a b" >"$TMP/tokcmd.out" 2>&1
check "check --oauth-token-command passes" [ $? -eq 0 ]
no_secret "$TMP/tokcmd.out" "the Nagios line holds no token"
check "the token command got its own argv" has "$TMP/tokcmd.argv" "a b"
# (Its environment is ours, which holds the test's own PW: look for the
# token alone.)
if grep -qF -e "$TOKEN" -e "$B64_TOKEN" -e "$B64_XOAUTH2" "$TMP/tokcmd.env"; then
  bad "the token command's environment holds no token" "found"
else
  ok "the token command's environment holds no token"
fi
printf 'ya29.Wr0ngT0ken\n' >"$TMP/wrongtok"
"$BIN" check "imap://$TOK" --tls none --user "$USER_" \
  --oauth-token-file "$TMP/wrongtok" --format json >"$TMP/wrongtok.json" 2>&1
check "a refused token is CRITICAL (exit 2)" [ $? -eq 2 ]
if grep -qF -e "ya29.Wr0ngT0ken" "$TMP/wrongtok.json"; then
  bad "the refusal holds no token" "found"
else
  ok "the refusal holds no token"
fi

# --- error messages, Nagios, debug trace --------------------------------
WRONG='Wr0ng-P4ss'
export WRONG
MAILPROBE_DEBUG=1 "$BIN" check "smtp://$MX" --tls none --auth PLAIN \
  --user "$USER_" --password-env WRONG >"$TMP/wrong.out" 2>"$TMP/wrong.err"
check "a wrong password is CRITICAL (exit 2)" [ $? -eq 2 ]
check "the Nagios line says auth_failed" has "$TMP/wrong.out" auth_failed
if grep -qF -e "$WRONG" -e "$(printf '\000%s\000%s' "$USER_" "$WRONG" |
  base64)" "$TMP/wrong.out" "$TMP/wrong.err"; then
  bad "the failure and its debug trace hold no password" "found"
else
  ok "the failure and its debug trace hold no password"
fi
MAILPROBE_DEBUG=1 "$BIN" check "smtp://$MX" --tls none --auth PLAIN \
  --user "$USER_" --password-env PW --format json >/dev/null 2>"$TMP/dbg.err"
no_secret "$TMP/dbg.err" "MAILPROBE_DEBUG trace holds no password"

# --- reports of `mailprobe run`: human (verbose), JUnit, JSON ------------
# A case that fails on purpose, so the reports print its transcript and
# what the server saw. LOGIN with the password AAA sends QUFB, base64 that
# looks like a command word.
cat >"$TMP/fails.yaml" <<YAML
name: fails on purpose after logging in
servers:
  mx:
    protocol: smtp
    users: { $USER_: "AAA", other@example.test: "$PW" }
    auth: [LOGIN, PLAIN]
probe:
  type: smtp
  server: mx
  tls: none
  user: $USER_
  password: "AAA"
  auth: [LOGIN]
  timeout: 2s
expect:
  status: fail
  server:
    mx: { not_saw: ["Q*B"] }
YAML
for fmt in human junit json tap; do
  "$BIN" run "$TMP/fails.yaml" --format "$fmt" -v >"$TMP/run.$fmt" 2>&1
  check "run --format $fmt: the case fails (exit 1)" [ $? -eq 1 ]
  if grep -qE 'saw (\\"|"|&quot;)\*\*\*\*' "$TMP/run.$fmt"; then
    ok "run --format $fmt: the server line is shown masked"
  else
    bad "run --format $fmt: the server line is shown masked" "not found"
  fi
  if grep -q 'QUFB' "$TMP/run.$fmt"; then
    bad "run --format $fmt holds no SASL response" "QUFB found"
  else
    ok "run --format $fmt holds no SASL response"
  fi
done

# --- certificates: verified by default, --insecure said out loud ----------
"$BIN" check "imaps://$IMP" --user "$USER_" --password-env PW \
  >"$TMP/noca.out" 2>&1
check "an untrusted certificate is CRITICAL by default" [ $? -eq 2 ]
check "... with cert_invalid" has "$TMP/noca.out" cert_invalid
"$BIN" check "imaps://$IMP" --user "$USER_" --password-env PW --insecure \
  >"$TMP/insecure.out" 2>&1
check "--insecure passes the untrusted certificate" [ $? -eq 0 ]
check "the Nagios line says --insecure" has "$TMP/insecure.out" "--insecure"
"$BIN" check "imaps://$IMP" --user "$USER_" --password-env PW --insecure \
  --format json >"$TMP/insecure.json" 2>&1
check "JSON says \"insecure\": true" has "$TMP/insecure.json" '"insecure": true'
"$BIN" check "imaps://$IMP" --cafile "$CA" --servername mx.example.test \
  --user "$USER_" --password-env PW --format json >"$TMP/secure.json" 2>&1
check "with the CA the certificate verifies" has "$TMP/secure.json" \
  '"verified": true'
check "... and JSON says \"insecure\": false" has "$TMP/secure.json" \
  '"insecure": false'
"$BIN" check "imaps://$IMP" --cafile "$CA" --servername mx.example.test \
  --user "$USER_" --password-env PW >"$TMP/secure.out" 2>&1
check "with the CA the check is OK" [ $? -eq 0 ]
check "a verified Nagios line does not say --insecure" \
  lacks "$TMP/secure.out" "--insecure"

# --- serve binds 127.0.0.1 --------------------------------------------------
check "serve prints 127.0.0.1 addresses" [ "$(grep -c ' 127\.0\.0\.1:' \
  "$TMP/serve.out")" -eq 4 ]
# /proc/net/tcp: local address as hex IP:port; 0100007F is 127.0.0.1,
# 00000000 any address. State 0A is LISTEN.
if [ -r /proc/net/tcp ]; then
  for a in "$MX" "$POP" "$IMP" "$TOK"; do
    port=$(printf '%04X' "${a##*:}")
    if awk -v p=":$port" '$4 == "0A" && substr($2, 9) == p { print $2 }' \
      /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qv '^0100007F:'; then
      bad "port ${a##*:} listens on 127.0.0.1 only" "another address too"
    elif awk -v p=":$port" '$4 == "0A" && substr($2, 9) == p' \
      /proc/net/tcp | grep -q .; then
      ok "port ${a##*:} listens on 127.0.0.1 only"
    else
      bad "port ${a##*:} listens on 127.0.0.1 only" "not found listening"
    fi
  done
fi

finish
