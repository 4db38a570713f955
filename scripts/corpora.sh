#!/bin/sh
# corpora.sh [DIR]: fetches the real texts the corpus tests read (tests/t5004-corpora.sh) from
# Debian packages with `apt-get download` and writes kjv.txt, debian-policy.txt and policy.epub
# into DIR (default build/corpora): the King James Bible from bible-kjv-text, and Debian
# Policy as text and EPUB from debian-policy, unpacked the same way on every machine.
# Idempotent: does nothing when the three files are there. Needs apt-get (after
# `apt-get update`), dpkg and zcat; no root, nothing is installed. About 5 MB to fetch and a
# few seconds; exits 1 with the reason when a package cannot be fetched.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$TOP/build/corpora}
PKGS="bible-kjv bible-kjv-text debian-policy"

have_all() {
	[ -s "$DIR/kjv.txt" ] && [ -s "$DIR/debian-policy.txt" ] && [ -s "$DIR/policy.epub" ]
}
if have_all; then
	echo "corpora: ready in $DIR"
	exit 0
fi
for tool in apt-get dpkg zcat; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "corpora: $tool is needed to fetch $PKGS" >&2
		exit 1
	}
done

mkdir -p "$DIR/debs"
tmp=$(mktemp -d "$DIR/.work.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Keep .deb files already fetched; apt-get download writes into the current directory.
missing=
for p in $PKGS; do
	ls "$DIR/debs/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "corpora: apt-get download$missing"
	if ! (cd "$DIR/debs" && apt-get download $missing) >"$tmp/apt.log" 2>&1; then
		sed 's/^/  /' "$tmp/apt.log" >&2
		echo "corpora: apt-get download$missing failed (no network, or the package lists" \
			"need \`apt-get update\`?); the corpus tests will SKIP" >&2
		exit 1
	fi
fi

X=$tmp/x
for p in $PKGS; do
	deb=$(ls "$DIR/debs/${p}_"*.deb | head -n 1)
	mkdir -p "$X/$p"
	dpkg -x "$deb" "$X/$p"
done

# The same commands as build_corpora.sh; each file appears whole (written beside, renamed).
(cd "$X" && bible-kjv/usr/bin/bible -f -p bible-kjv-text/usr/lib Gen1:1-Rev22:21 \
	</dev/null >"$tmp/kjv.txt")
zcat "$X/debian-policy/usr/share/doc/debian-policy/policy.txt.gz" >"$tmp/debian-policy.txt"
cp "$X/debian-policy/usr/share/doc/debian-policy/policy.epub" "$tmp/policy.epub"
lines=$(wc -l <"$tmp/kjv.txt")
if [ "$lines" -ne 31102 ]; then
	echo "corpora: kjv.txt came out with $lines lines, not 31102 (bible-kjv changed?)" >&2
	exit 1
fi
for f in kjv.txt debian-policy.txt policy.epub; do
	mv -f "$tmp/$f" "$DIR/$f"
done
echo "corpora: kjv.txt, debian-policy.txt and policy.epub written to $DIR"
