#!/bin/sh
# Packaging: `make install` into a DESTDIR puts a stripped binary, the man
# pages mailprobe(1) and mailprobe-cases(5) (groff finds nothing to warn
# about), bash completion that completes, and the example cases under
# share/mailprobe; `make uninstall` takes all of it away again. The repo
# has its LICENSE (MIT).
#
# usage: tests/limits/install.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
in_repo
D=$TMP/root
P=/usr

# The binary under test is installed as it is (-o all: nothing rebuilt).
if make -s --no-print-directory -o all install INSTALL_BIN="$BIN" \
  DESTDIR="$D" PREFIX=$P >"$TMP/make.out" 2>&1; then
  ok "make install DESTDIR=... PREFIX=/usr"
else
  bad "make install" "$(tail -n 5 "$TMP/make.out")"
fi
if [ -x "$D$P/bin/mailprobe" ] && "$D$P/bin/mailprobe" --help >/dev/null 2>&1
then ok "the installed binary runs"; else bad "installed binary" "missing or fails"; fi
if readelf -S "$D$P/bin/mailprobe" 2>/dev/null | grep -q '\.symtab'; then
  bad "installed binary" "not stripped (it has a .symtab)"
else
  ok "the installed binary is stripped"
fi
for m in man1/mailprobe.1 man5/mailprobe-cases.5; do
  f=$D$P/share/man/$m
  if [ ! -f "$f" ]; then
    bad "$m" "not installed"
  elif out=$(groff -man -ww -z "$f" 2>&1) && [ -z "$out" ] &&
    MANWIDTH=80 man -l "$f" 2>/dev/null | grep -q "^NAME"; then
    ok "$m installed, renders without a warning"
  else
    bad "$m" "groff says: $out"
  fi
done
n=$(find "$D$P/share/mailprobe/cases" -name '*.yaml' 2>/dev/null | wc -l)
want=$(find cases -name '*.yaml' | wc -l)
if [ "$n" -eq "$want" ] && [ "$n" -gt 0 ]; then
  ok "the $n example cases under share/mailprobe/cases"
else bad "example cases" "$n installed, $want in cases/"; fi
if "$D$P/bin/mailprobe" run "$D$P/share/mailprobe/cases/smtp/happy_tls_none.yaml" \
  >"$TMP/run.out" 2>&1; then
  ok "an installed case runs"
else bad "installed case" "$(tail -n 3 "$TMP/run.out")"; fi

# Completion: what bash offers after "mailprobe ch" and "check --tls ".
comp=$D$P/share/bash-completion/completions/mailprobe
if [ -f "$comp" ] && command -v bash >/dev/null; then
  got=$(bash -c '. "$1"
    COMP_WORDS=(mailprobe ch); COMP_CWORD=1; _mailprobe; echo "${COMPREPLY[*]}"
    COMP_WORDS=(mailprobe check --tls ""); COMP_CWORD=3; _mailprobe
    echo "${COMPREPLY[*]}"
    COMP_WORDS=(mailprobe check --cert); COMP_CWORD=2; _mailprobe
    echo "${COMPREPLY[*]}"' _ "$comp" 2>&1)
  if [ "$got" = "$(printf 'check\nnone starttls implicit auto\n--cert-days')" ]
  then ok "bash completion completes commands, --tls values and options"
  else bad "bash completion" "$got"; fi
else
  bad "bash completion" "not installed"
fi

if make -s --no-print-directory uninstall DESTDIR="$D" PREFIX=$P \
  >"$TMP/make.out" 2>&1 && [ -z "$(find "$D" -type f)" ]; then
  ok "make uninstall leaves no file behind"
else
  bad "make uninstall" "left: $(find "$D" -type f | head -n 5)"
fi
if head -n 1 LICENSE 2>/dev/null | grep -q '^MIT License$'; then
  ok "LICENSE: MIT"
else bad "LICENSE" "missing or not MIT"; fi

finish
