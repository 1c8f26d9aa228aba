#!/usr/bin/env python3
"""A stranger's POP3 check, written without mailprobe in mind, for
tests/limits/subjects.sh: its profiles (pop3_right.yaml, pop3_no_quit.yaml)
were written from docs/subjects.md alone. It greets, logs in with USER/PASS
when given a user, asks STAT and says QUIT; Nagios exit codes.
--no-quit is the known defect: it hangs up without QUIT."""
import argparse
import poplib
import socket
import sys


def main():
    a = argparse.ArgumentParser()
    a.add_argument("host")
    a.add_argument("port", type=int)
    a.add_argument("--timeout", type=float, default=10)
    a.add_argument("--user")
    a.add_argument("--pass-file")
    a.add_argument("--no-quit", action="store_true")
    o = a.parse_args()
    try:
        p = poplib.POP3(o.host, o.port, timeout=o.timeout)
        if o.user:
            with open(o.pass_file) as f:
                p.user(o.user)
                p.pass_(f.read())
        n, _ = p.stat()
        if o.no_quit:
            p.sock.close()
        else:
            p.quit()
    except (socket.timeout, TimeoutError) as e:
        print("POP3 CRITICAL - timed out: %s" % e)
        return 2
    except poplib.error_proto as e:
        text = str(e)
        if "-ERR" in text and "auth" in text.lower():
            print("POP3 CRITICAL - login refused: %s" % text)
        else:
            print("POP3 CRITICAL - server said: %s" % text)
        return 2
    except OSError as e:
        print("POP3 CRITICAL - %s" % e)
        return 2
    print("POP3 OK - %d messages" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
