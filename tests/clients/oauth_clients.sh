#!/usr/bin/env bash
# curl speaks XOAUTH2 and OAUTHBEARER (--oauth2-bearer, --login-options
# AUTH=...): it gets a token from the fake token endpoint (the
# client-credentials grant), asks the endpoint's introspection URL about
# it (RFC 7662), then logs in with it to the fake SMTP, POP3 and IMAP
# servers; a wrong token is refused. The servers are tests/clients/
# oauth.yaml held up by `mailprobe serve` on 127.0.0.1.
#
# usage: tests/clients/oauth_clients.sh [MAILPROBE]
set -u
cd "$(dirname "$0")/../.." || exit 1
MP=${1:-${MAILPROBE:-build/mailprobe}}
U=probe@example.test
passed=0
failed=0
TMP=$(mktemp -d)
SERVE_PID=
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() {
  failed=$((failed + 1))
  echo "FAIL $1"
  [ -n "${2:-}" ] && sed 's/^/     | /' "$2" | head -30
}
command -v curl >/dev/null || { echo "FAIL curl is missing"; exit 1; }

"$MP" serve tests/clients/oauth.yaml >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVE_PID=$!
for _ in $(seq 1 100); do grep -q '^CA ' "$TMP/serve.out" && break; sleep 0.05; done
port() { awk -v n="$1" '$1 == n { split($3, a, ":"); print a[2] }' "$TMP/serve.out"; }
IDP=$(port idp) IMAP=$(port imapx)
[ -n "$IDP" ] && [ -n "$IMAP" ] || { bad "serve" "$TMP/serve.err"; exit 1; }

# The token, from the endpoint (RFC 6749 4.4).
if curl -sS -o "$TMP/token.json" -w '%{http_code}' \
  -d grant_type=client_credentials -d client_id=curl-app \
  -d client_secret=curl-secret "http://127.0.0.1:$IDP/token" \
  >"$TMP/code" 2>"$TMP/err" && [ "$(cat "$TMP/code")" = 200 ]; then
  ok "curl gets a token from the fake endpoint"
else
  bad "curl gets a token from the fake endpoint" "$TMP/err"
fi
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' \
  "$TMP/token.json" 2>/dev/null)
[ "$TOKEN" = ya29.curl-token ] && ok "the answer holds the client's token" ||
  bad "the answer holds the client's token" "$TMP/token.json"
curl -sS -u curl-app:wrong -d grant_type=client_credentials \
  -o "$TMP/bad.json" -w '%{http_code}' "http://127.0.0.1:$IDP/token" >"$TMP/code"
[ "$(cat "$TMP/code")" = 401 ] && grep -q invalid_client "$TMP/bad.json" &&
  ok "a wrong secret (HTTP Basic) is 401 invalid_client" ||
  bad "a wrong secret (HTTP Basic) is 401 invalid_client" "$TMP/bad.json"
curl -sS -d "token=$TOKEN" "http://127.0.0.1:$IDP/introspect" >"$TMP/intro.json"
grep -q '"active":true' "$TMP/intro.json" && grep -q "\"username\":\"$U\"" "$TMP/intro.json" &&
  ok "introspection says active, with the user" ||
  bad "introspection says active, with the user" "$TMP/intro.json"
curl -sS -d "token=nope" "http://127.0.0.1:$IDP/introspect" >"$TMP/intro2.json"
grep -q '"active":false' "$TMP/intro2.json" && ok "an unknown token is inactive" ||
  bad "an unknown token is inactive" "$TMP/intro2.json"

# Logins with the token, each mechanism: curl picks OAUTHBEARER when
# offered, else XOAUTH2, so each has servers offering only it (b, x).
printf 'Subject: oauth\r\n\r\nhello\r\n' >"$TMP/msg"
for mech in OAUTHBEARER XOAUTH2; do
  s=$([ $mech = XOAUTH2 ] && echo x || echo b)
  curl -sSv --oauth2-bearer "$TOKEN" -u "$U:" \
    "imap://127.0.0.1:$(port imap$s)/INBOX" -X 'EXAMINE INBOX' \
    >"$TMP/imap.out" 2>"$TMP/imap.err"
  if [ $? -eq 0 ] && grep -q "AUTHENTICATE $mech " "$TMP/imap.err" &&
    grep -q EXISTS "$TMP/imap.out"; then
    ok "curl IMAP $mech logs in"
  else
    bad "curl IMAP $mech logs in" "$TMP/imap.err"
  fi
  curl -sSv --oauth2-bearer "$TOKEN" -u "$U:" "pop3://127.0.0.1:$(port pop$s)/" \
    >"$TMP/pop.out" 2>"$TMP/pop.err"
  if [ $? -eq 0 ] && grep -q "^> AUTH $mech" "$TMP/pop.err" &&
    grep -q '^< +OK Logged in' "$TMP/pop.err"; then
    ok "curl POP3 $mech logs in and lists the mailbox"
  else
    bad "curl POP3 $mech logs in and lists the mailbox" "$TMP/pop.err"
  fi
  curl -sSv --oauth2-bearer "$TOKEN" -u "$U:" --mail-from "$U" \
    --mail-rcpt "$U" --upload-file "$TMP/msg" \
    "smtp://127.0.0.1:$(port smtp$s)" >/dev/null 2>"$TMP/smtp.err"
  if [ $? -eq 0 ] && grep -q "^> AUTH $mech" "$TMP/smtp.err"; then
    ok "curl SMTP $mech logs in and sends"
  else
    bad "curl SMTP $mech logs in and sends" "$TMP/smtp.err"
  fi
done
curl -sS --oauth2-bearer "ya29.wrong" -u "$U:" \
  "imap://127.0.0.1:$IMAP/INBOX" -X 'EXAMINE INBOX' >/dev/null 2>"$TMP/err"
[ $? -eq 67 ] && ok "curl with a wrong token is refused (login denied)" ||
  bad "curl with a wrong token is refused (login denied)" "$TMP/err"

echo "oauth_clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
