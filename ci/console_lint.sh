#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The web console's files: every module parses (node --check), and no
# page holds what its Content-Security-Policy would refuse (inline
# script, style attributes or elements, inline event handlers), nor a
# reference off the gateway (a CDN).  TAP.
SRC=${1:-$(cd "$(dirname "$0")/.." && pwd)}
n=0 bad=0
check() { # DESCRIPTION CMD...
	local d=$1
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n - $d"
	else
		echo "not ok $n - $d"
		printf '%s\n' "$out" | sed 's/^/#   /'
		bad=$((bad + 1))
	fi
}
none() { ! grep -nE "$@"; } # no line matches
cd "$SRC/console" || exit 1
# as a module: node 20 reads a .js file with --check as a script and
# passes a module's syntax errors
for f in js/*.js; do
	check "$f parses" sh -c 'node --input-type=module --check <"$1"' _ "$f"
done
for f in *.html; do
	check "$f: every script is a file" none -iP '<script(?![^>]*\bsrc=)' "$f"
	check "$f: no style element or attribute" none -iP '<style|\sstyle=' "$f"
	check "$f: no inline event handler" none -iP '\son[a-z]+\s*=' "$f"
done
check "nothing is loaded from another host" none -rnIE '(src|href)=["'"'"']?(https?:)?//' .
# (in code: a comment may name what the code avoids)
code_uses() { grep -rnE "$1" js | grep -vE '^[^:]+:[0-9]+:\s*(//|/?\*)'; }
check "no module builds HTML from strings or runs strings" \
	eval '! code_uses "innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(.style"'
# every file a page or module names is there, and every stylesheet and
# module is used (a file left behind would be served for nothing)
refs() { # the files index.html and the modules name, from console/
	grep -oE '(src|href)="[^"#:]+"' index.html | sed -E 's/^[a-z]+="//; s/"$//'
	for f in js/*.js; do
		grep -oE "^import [^'\"]*from '\./[^']+'|^import '\./[^']+'" "$f" |
			sed -E "s|.*'\./([^']+)'|js/\1|"
	done
}
check "every file the console names exists" \
	sh -c 'for r in $(cat); do [ -f "$r" ] || { echo "missing: $r"; exit 1; }; done' <<<"$(refs)"
check "every stylesheet and module is used" \
	sh -c 'used=$(cat); for f in css/*.css js/*.js; do
		printf "%s\n" "$used" | grep -qxF "$f" || { echo "unused: $f"; exit 1; }; done' <<<"$(refs | sort -u)"
echo "1..$n"
[ "$bad" -eq 0 ]
