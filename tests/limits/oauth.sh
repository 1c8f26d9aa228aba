#!/bin/sh
# Where a token comes from (harness/oauth/): --oauth-token-file,
# --oauth-token-command and a token endpoint, and what goes wrong with
# each: UNKNOWN (exit 3) before connecting for a local problem, naming the
# option; CRITICAL in phase token for an endpoint that refuses or answers
# garbage; a fetched token kept for its lifetime by --monitor; a rotated
# refresh token written back. The endpoints are the harness's fake token
# endpoint (harness/idp/) held up by `mailprobe serve`.
#
# usage: tests/limits/oauth.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
in_repo # runs tests/limits/json-schema-check
USER_=probe@example.test

cat >"$TMP/servers.yaml" <<YAML
name: a server that takes a token
servers:
  box:
    protocol: imap
    auth: [XOAUTH2, OAUTHBEARER]
    tokens:
      ya29.good: { user: $USER_ }
  idp:
    protocol: oauth
    clients:
      app: { secret: sekrit, token: ya29.good }
    refresh_tokens:
      rt-1: { token: ya29.good, rotate: rt-2 }
      rt-mon: { token: ya29.good, rotate: rt-mon2 }
    expires_in: 1h
  idp500:
    protocol: oauth
    answer: http_500
  idphang:
    protocol: oauth
    answer: hang
probe: { type: imap, server: box }
expect: { status: ok }
YAML
serve "$TMP/servers.yaml"
BOX=$(addr box)

# run NAME ARGS...: runs check against the box, output in $TMP/NAME.
run() {
  name=$1
  shift
  "$BIN" check "imap://$BOX" --tls none --user "$USER_" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err"
  echo $? >"$TMP/$name.rc"
}
rc() { cat "$TMP/$1.rc"; }

# --- the token file -------------------------------------------------------
printf 'ya29.good\n' >"$TMP/tok"
run file --oauth-token-file "$TMP/tok"
check "a token file logs in (exit 0)" [ "$(rc file)" -eq 0 ]
check "... with OAUTHBEARER" has "$TMP/file.out" "auth OAUTHBEARER"
: >"$TMP/empty"
run empty --oauth-token-file "$TMP/empty"
check "an empty token file is UNKNOWN (exit 3)" [ "$(rc empty)" -eq 3 ]
check "... naming the option" has "$TMP/empty.out" "--oauth-token-file"
run missing --oauth-token-file "$TMP/nonexistent"
check "a missing token file is UNKNOWN (exit 3)" [ "$(rc missing)" -eq 3 ]
check "... naming the option" has "$TMP/missing.out" "--oauth-token-file"
check "... before connecting (no session)" lacks "$TMP/missing.out" "IMAP"

# --- the token command ------------------------------------------------------
run cmd --oauth-token-command "cat $TMP/tok"
check "a token command logs in" [ "$(rc cmd)" -eq 0 ]
check "... and its time is the token phase" has "$TMP/cmd.out" " token="
run cmdfail --oauth-token-command "false"
check "a failing token command is UNKNOWN (exit 3)" [ "$(rc cmdfail)" -eq 3 ]
check "... with its exit status" has "$TMP/cmdfail.out" "exited with status 1"
run cmdsilent --oauth-token-command "true"
check "a silent token command is UNKNOWN" [ "$(rc cmdsilent)" -eq 3 ]
check "... saying it printed nothing" has "$TMP/cmdsilent.out" "printed nothing"
run cmdhang --oauth-token-command "sleep 30" --oauth-token-timeout 300ms
check "a hanging token command is UNKNOWN" [ "$(rc cmdhang)" -eq 3 ]
check "... with its time limit" has "$TMP/cmdhang.out" "within 300 ms"
run cmdnone --oauth-token-command "$TMP/no-such-command"
check "a token command that cannot run is UNKNOWN" [ "$(rc cmdnone)" -eq 3 ]
printf 'ya29.wrong\n' >"$TMP/wrong"
run refused --oauth-token-command "cat $TMP/wrong"
check "a refused token is CRITICAL (exit 2)" [ "$(rc refused)" -eq 2 ]
check "... auth_failed with the server's reason" has "$TMP/refused.out" \
  "the server refused the token: invalid_token"

# --- usage ------------------------------------------------------------------
run both --oauth-token-file "$TMP/tok" --oauth-token-command "true"
check "two token sources are a usage error" [ "$(rc both)" -eq 3 ]
run noid --oauth-token-url "http://127.0.0.1:1/token"
check "--oauth-token-url without a client id is a usage error" \
  has "$TMP/noid.out" "--oauth-client-id"

# --- the token endpoint -------------------------------------------------------
EP="http://$(addr idp)"
printf 'sekrit\n' >"$TMP/secret"
export CLIENT_SECRET=sekrit
run cc --oauth-token-url "$EP/token" --oauth-client-id app \
  --oauth-client-secret-env CLIENT_SECRET --oauth-scope "mail .default"
check "client credentials: logs in" [ "$(rc cc)" -eq 0 ]
check "client credentials: the token phase is timed" has "$TMP/cc.out" \
  " token="
printf 'wrong\n' >"$TMP/badsecret"
run badcc --oauth-token-url "$EP/token" --oauth-client-id app \
  --oauth-client-secret-file "$TMP/badsecret"
check "invalid_client is CRITICAL (exit 2)" [ "$(rc badcc)" -eq 2 ]
check "... auth_failed in token with the endpoint's description" \
  has "$TMP/badcc.out" \
  "auth_failed in token after"
check "... and its error and description" has "$TMP/badcc.out" \
  "invalid_client: AADSTS7000215: Invalid client secret provided."
printf 'rt-1\n' >"$TMP/refresh"
run refresh --oauth-token-url "$EP/token" --oauth-client-id app \
  --oauth-refresh-token-file "$TMP/refresh"
check "refresh token: logs in" [ "$(rc refresh)" -eq 0 ]
check "refresh token: the rotated one is written back" \
  [ "$(cat "$TMP/refresh")" = "rt-2" ]
check "refresh token: no temporary file is left" \
  [ "$(ls "$TMP" | grep -c 'refresh.tmp')" -eq 0 ]
run refresh2 --oauth-token-url "$EP/token" --oauth-client-id app \
  --oauth-refresh-token-file "$TMP/refresh"
# The next run presents rt-2, which the endpoint (having rotated rt-1
# to it) does not know.
check "the rotated refresh token is presented next: refused, CRITICAL" \
  [ "$(rc refresh2)" -eq 2 ]
check "... as invalid_grant with its description" has "$TMP/refresh2.out" \
  "invalid_grant: Token has been expired or revoked."
run e500 --oauth-token-url "http://$(addr idp500)/token" --oauth-client-id app \
  --oauth-client-secret-file "$TMP/secret"
check "an HTTP 500 page is a named error, CRITICAL" [ "$(rc e500)" -eq 2 ]
check "... protocol_error in token" has "$TMP/e500.out" \
  "protocol_error in token"
run slow --oauth-token-url "http://$(addr idphang)/token" --oauth-client-id app \
  --oauth-client-secret-file "$TMP/secret" --oauth-token-timeout 500ms
check "a hanging endpoint times out in phase token" has "$TMP/slow.out" \
  "timeout in token"
# rt-mon is good once (the endpoint rotates it to rt-mon2, which it does
# not know): three passing tests mean one fetch for the token's hour.
printf 'rt-mon\n' >"$TMP/refresh-mon"
"$BIN" check "imap://$BOX" --tls none --user "$USER_" --monitor \
  --count 3 --interval 100ms --oauth-token-url "$EP/token" \
  --oauth-client-id app --oauth-refresh-token-file "$TMP/refresh-mon" \
  >"$TMP/mon.out" 2>&1
check "--monitor: three tests pass on one fetched token" \
  [ "$(grep -c ' OK ' "$TMP/mon.out")" -eq 3 ]
check "--monitor: the token was fetched once (rt-mon rotated once)" \
  [ "$(cat "$TMP/refresh-mon")" = rt-mon2 ]
# The JSON of a refused token (oauth_error) and of a refusal in phase
# token are results as docs/result.schema.json describes them.
run jref --oauth-token-file "$TMP/wrong" --format json
run jtok --oauth-token-url "$EP/token" --oauth-client-id app \
  --oauth-client-secret-file "$TMP/badsecret" --format json
check "JSON of a refused token holds oauth_error.status" \
  has "$TMP/jref.out" '"status": "invalid_token"'
check "JSON of a refusal in phase token says so" \
  has "$TMP/jtok.out" '"phase": "token"'
if python3 -c 'import jsonschema' 2>/dev/null; then
  if tests/limits/json-schema-check docs/result.schema.json result \
    "$TMP/jref.out" "$TMP/jtok.out" >"$TMP/schema.out" 2>&1; then
    ok "both validate against docs/result.schema.json"
  else
    bad "both validate against docs/result.schema.json" \
      "$(head -c 400 "$TMP/schema.out")"
  fi
fi
if grep -qF -e sekrit -e ya29.good -e rt-1 -e rt-2 "$TMP"/*.out; then
  bad "no output holds the secret, token or refresh token" "found"
else
  ok "no output holds the secret, token or refresh token"
fi

finish
