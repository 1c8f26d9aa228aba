#!/usr/bin/env python3
"""Checks one `mailprobe check --format json` result for ci/interop.

Usage: check-result.py FILE EXPECT...
EXPECT is key=value: status=ok|fail, error=NAME|- (null), phase=NAME,
auth=NAME|-|* (null / any mechanism), tls=yes|no (the tls object present or
null), has=A.B (a member, by dotted path, present and not null). Exits 0 when all hold, else prints what differs and exits 1."""
import json
import sys


def main():
    path, expects = sys.argv[1], sys.argv[2:]
    text = open(path, encoding="utf-8", errors="replace").read()
    try:
        d = json.JSONDecoder().raw_decode(text[text.index("{"):])[0]
    except ValueError as e:
        print("not a JSON result: %s" % e)
        return 1
    problems = []
    for item in expects:
        key, _, want = item.partition("=")
        got = d.get(key)
        if key == "has":
            got = d
            for part in want.split("."):
                got = got.get(part) if isinstance(got, dict) else None
            ok = got is not None
            shown = got
            if not ok:
                problems.append("%s is missing or null" % want)
            continue
        if key == "tls":
            ok = (got is not None) == (want == "yes")
            shown = "null" if got is None else got.get("version")
        elif want == "*":
            ok = bool(got)
            shown = got
        elif want == "-":
            ok = got is None
            shown = got
        else:
            ok = got == want
            shown = got
        if not ok:
            problems.append("%s %s, want %s" % (key, json.dumps(shown), want))
    if problems:
        print("; ".join(problems))
        return 1
    return 0


sys.exit(main())
