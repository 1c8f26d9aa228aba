#!/bin/sh
# The exporter's HTTP side with a web config (Prometheus' web.yml): TLS
# from cert_file/key_file (a throw-away certificate made here with
# openssl) and basic auth against a bcrypt hash; curl is the client: no
# credentials 401, wrong ones 401, right ones 200 (twice: the second
# from the cache), and a bad web config stops the start with
# file:line:column.
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
in_repo
for tool in curl openssl; do
  command -v $tool >/dev/null 2>&1 || { bad "$tool is installed" "ci/install-deps"; finish; exit 1; }
done

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/key.pem" \
  -out "$TMP/cert.pem" >/dev/null 2>&1 || { bad "openssl makes a cert" "failed"; finish; exit 1; }
# bcrypt of "s3cret" at cost 4 (crypt_r with a $2y$04$ salt).
cat >"$TMP/web.yml" <<'EOF2'
tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
basic_auth_users:
  prom: $2y$04$swDcaS8RkKMUCgzfpnN79OII4IAbs7pu1DuMHriZzmvUjWJu9tUGm
EOF2
printf 'modules:\n  smtp_banner: {type: smtp, tls: none, timeout: 2s}\n' \
  >"$TMP/exp.yaml"
start_exporter --config "$TMP/exp.yaml" --web.config.file "$TMP/web.yml"
URL=https://$EXP/-/healthy
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/cert.pem" "$@"; }
[ "$(code "$URL")" = 401 ] && ok "TLS, no credentials: 401" || bad "no credentials" "$(code "$URL")"
[ "$(code -u prom:wrong "$URL")" = 401 ] && ok "a wrong password: 401" || bad "wrong password" "$(code -u prom:wrong "$URL")"
[ "$(code -u prom:s3cret "$URL")" = 200 ] && ok "the right password: 200" || bad "right password" "$(code -u prom:s3cret "$URL")"
[ "$(code -u prom:s3cret "$URL")" = 200 ] && ok "again (from the cache): 200" || bad "right password again" "not 200"
[ "$(code -u nobody:s3cret "$URL")" = 401 ] && ok "an unknown user: 401" || bad "unknown user" "not 401"
plain=$(curl -s -o /dev/null -w '%{http_code}' -u prom:s3cret "http://${URL#https://}")
if [ "$plain" != 200 ]; then ok "plain HTTP on the TLS port gets no page"; else
  bad "plain HTTP on the TLS port" "answered 200"
fi
stop_exporter
printf 'tls_server_config:\n  cert_file: nope.pem\n  key_file: key.pem\n' \
  >"$TMP/bad.yml"
"$BIN" exporter --config "$TMP/exp.yaml" --web.config.file "$TMP/bad.yml" \
  --listen 127.0.0.1:0 >"$TMP/bad.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && has "$TMP/bad.out" "bad.yml:2:14: cert_file:"; then
  ok "a web config naming a missing file: exit 3 at file:line:column"
else
  bad "a broken web config" "exit $rc: $(cat "$TMP/bad.out")"
fi
finish
