#!/bin/bash
# The manual pages render without a groff warning and name what they document;
# the bash completion offers hapfctl's words.
set -u
src=$1
fail=0
for page in hapfd.8 hapfctl.8 hapf.conf.5; do
  warn=$(groff -mandoc -Tutf8 -ww -z "$src/man/$page" 2>&1)
  if [ -n "$warn" ]; then echo "$page: $warn"; fail=1; fi
  text=$(groff -mandoc -Tutf8 "$src/man/$page" 2>/dev/null | sed 's/.\x08//g')
  name=${page%.*}
  if ! grep -q "^NAME" <<<"$text" || ! grep -q "$name" <<<"$text"; then echo "$page: no NAME section for $name"; fail=1; fi
done
grep -q "http-password-sha256" <<<"$(groff -mandoc -Tutf8 "$src/man/hapf.conf.5" 2>/dev/null | sed 's/.\x08//g')" \
  || { echo "hapf.conf.5 does not document http-password-sha256"; fail=1; }
# shellcheck source=/dev/null
source "$src/contrib/bash-completion/hapfctl"
COMP_WORDS=(hapfctl carp ""); COMP_CWORD=2; _hapfctl
[ "${COMPREPLY[*]}" = "demote" ] || { echo "completion after carp: ${COMPREPLY[*]}"; fail=1; }
COMP_WORDS=(hapfctl -s st); COMP_CWORD=2; _hapfctl
[ "${COMPREPLY[*]}" = "states" ] || { echo "completion after -s st: ${COMPREPLY[*]}"; fail=1; }
COMP_WORDS=(hapfctl lo); COMP_CWORD=1; _hapfctl
[ "${COMPREPLY[*]}" = "log" ] || { echo "completion of lo: ${COMPREPLY[*]}"; fail=1; }
COMP_WORDS=(hapfctl log -); COMP_CWORD=2; _hapfctl
[ "${COMPREPLY[*]}" = "-a -f" ] || { echo "completion after log: ${COMPREPLY[*]}"; fail=1; }
grep -q "hapfctl log" <<<"$(groff -mandoc -Tutf8 "$src/man/hapfctl.8" 2>/dev/null | sed 's/.\x08//g')" \
  || { echo "hapfctl.8 does not document hapfctl log"; fail=1; }
grep -q "pflog-max-size" <<<"$(groff -mandoc -Tutf8 "$src/man/hapf.conf.5" 2>/dev/null | sed 's/.\x08//g')" \
  || { echo "hapf.conf.5 does not document pflog-max-size"; fail=1; }
[ $fail = 0 ] && echo "man pages and completion ok"
exit $fail
