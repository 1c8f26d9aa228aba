#!/usr/bin/python3
"""A small SMTP probe in Python, the example subject of docs/subjects.md.

It connects, reads the greeting, says EHLO, upgrades to TLS when asked
(STARTTLS or implicit), logs in when given a user, and says QUIT. It
answers like a Nagios plugin: one line, exit 0 OK, 2 CRITICAL, 3 UNKNOWN;
a failure line names the error ("SMTP CRITICAL - timeout: ...").

--plain-login is the deliberate mistake of the `plain_login` example
subject: it logs in before STARTTLS, so the password crosses in clear.
"""
import argparse
import smtplib
import socket
import ssl
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", choices=["none", "starttls", "implicit"],
                    default="none")
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    ap.add_argument("--cafile")
    ap.add_argument("--servername")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--plain-login", action="store_true")
    a = ap.parse_args()

    ctx = ssl.create_default_context(cafile=a.cafile)
    password = ""
    if a.password_file:
        with open(a.password_file) as f:
            password = f.read()
    try:
        if a.tls == "implicit":
            s = smtplib.SMTP_SSL(a.host, a.port, timeout=a.timeout,
                                 context=ctx,
                                 local_hostname="probe.example.test")
            # SNI and verification against the certificate's name.
            s._host = a.servername or a.host
        else:
            s = smtplib.SMTP(timeout=a.timeout,
                             local_hostname="probe.example.test")
            s._host = a.servername or a.host
            code, msg = s.connect(a.host, a.port)
            if code != 220:
                print("SMTP CRITICAL - rejected: greeting %d" % code)
                return 2
        s.ehlo()
        if a.user and a.plain_login:
            s.login(a.user, password)
        if a.tls == "starttls":
            if not s.has_extn("starttls"):
                print("SMTP CRITICAL - starttls_unsupported: not offered")
                return 2
            code, msg = s.docmd("STARTTLS")
            if code != 220:
                print("SMTP CRITICAL - starttls_rejected: %d" % code)
                return 2
            s.sock = ctx.wrap_socket(s.sock,
                                     server_hostname=a.servername or a.host)
            s.file = None
            s.helo_resp = s.ehlo_resp = None
            s.esmtp_features = {}
            s.does_esmtp = False
            s.ehlo()
        if a.user and not a.plain_login:
            s.login(a.user, password)
        s.quit()
    except smtplib.SMTPConnectError as e:
        print("SMTP CRITICAL - rejected: %s" % e)
        return 2
    except smtplib.SMTPAuthenticationError as e:
        print("SMTP CRITICAL - auth_failed: %s" % e)
        return 2
    except smtplib.SMTPNotSupportedError as e:
        print("SMTP CRITICAL - auth_unsupported: %s" % e)
        return 2
    except smtplib.SMTPServerDisconnected as e:
        # smtplib turns a read timeout into a disconnect; say which.
        name = "timeout" if "timed out" in str(e) else "connection_closed"
        print("SMTP CRITICAL - %s: %s" % (name, e))
        return 2
    except smtplib.SMTPResponseException as e:
        print("SMTP CRITICAL - rejected: %d %s" % (e.smtp_code, e.smtp_error))
        return 2
    except ssl.SSLCertVerificationError as e:
        print("SMTP CRITICAL - cert_invalid: %s" % e)
        return 2
    except ssl.SSLError as e:
        print("SMTP CRITICAL - tls_failed: %s" % e)
        return 2
    except (socket.timeout, TimeoutError) as e:
        print("SMTP CRITICAL - timeout: %s" % e)
        return 2
    except ConnectionRefusedError as e:
        print("SMTP CRITICAL - connect_refused: %s" % e)
        return 2
    except (ConnectionError, OSError) as e:
        print("SMTP CRITICAL - connection_closed: %s" % e)
        return 2
    print("SMTP OK - %s:%d" % (a.host, a.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
