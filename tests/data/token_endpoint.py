"""A stand-in OAuth 2.0 token endpoint for tests/limits/oauth.sh (RFC 6749
4.4 and 6): /token grants client credentials for the secret "sekrit" and
refresh token rt-1 once (rotated to rt-2, which it refuses); /500 answers
an HTML error page; /hang never answers. Prints its port, appends each
grant type asked (and the refresh token presented) to the file named by argv[1]."""
import http.server
import json
import sys
import time
import urllib.parse

HITS = sys.argv[1]
SPENT = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        grant = form.get("grant_type", [""])[0]
        with open(HITS, "a") as f:
            f.write(grant + " " + form.get("refresh_token", [""])[0] + "\n")
        if self.path == "/hang":
            time.sleep(30)
            return
        if self.path == "/500":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"<html>Internal Server Error</html>")
            return
        if grant == "client_credentials":
            if form.get("client_secret", [""])[0] == "sekrit":
                return self.answer(200, {"access_token": "ya29.good",
                                         "expires_in": 3599,
                                         "token_type": "Bearer"})
            return self.answer(401, {
                "error": "invalid_client",
                "error_description":
                    "AADSTS7000215: Invalid client secret provided."})
        if grant == "refresh_token":
            rt = form.get("refresh_token", [""])[0]
            if rt == "rt-1" and rt not in SPENT:
                SPENT.add(rt)
                return self.answer(200, {"access_token": "ya29.good",
                                         "expires_in": 3599,
                                         "refresh_token": "rt-2"})
            return self.answer(400, {
                "error": "invalid_grant",
                "error_description": "Token has been expired or revoked."})
        return self.answer(400, {"error": "unsupported_grant_type"})


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
