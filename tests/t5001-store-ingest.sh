#!/bin/sh
# t5001-store-ingest.sh: `quire ingest` over the containers libarchive reads (folder, zip,
# tar.gz, tar.xz, tar.zst, tar.bz2, tar.lz4, 7z, cpio, iso9660, ar, zip nested in tar, gz, bz2,
# xz, dictzip): the same documents and bytes come out of each; then ls, show, search, rm,
# check and idempotent re-ingest.
. "${srcdir:-.}/tests/lib.sh"

T=$TEST_TMP   # lib.sh made it and removes it on exit
D=$T/docs
mkdir -p "$D/sub"
cp "$srcdir/tests/data/store/kjv-genesis.txt" "$D/kjv.txt"
cp "$srcdir/tests/data/store/sample.md" "$D/sub/notes.md"
cp "$srcdir/tests/data/store/sample.html" "$D/sub/page.html"

ndocs() { "$QUIRE" -L "$1" ls --json | grep -o '"id":' | wc -l | tr -d ' '; }

# ingest_as NAME FILE WANT_DOCS: a fresh library holds WANT_DOCS documents and the KJV text
# comes back byte for byte.
ingest_as() {
	lib=$T/lib-$1
	"$QUIRE" -q -L "$lib" ingest "$2" 2>"$T/err-$1"
	ok $? "ingest $1"
	is "$(ndocs "$lib")" "$3" "$1: $3 documents"
	"$QUIRE" -L "$lib" show kjv.txt >"$T/out-$1" 2>>"$T/err-$1"
	cmp -s "$T/out-$1" "$D/kjv.txt"
	ok $? "$1: kjv.txt text is the file's bytes"
	[ -s "$T/err-$1" ] && diag "$(cat "$T/err-$1")"
}

have() { command -v "$1" >/dev/null 2>&1; }

ingest_as folder "$D" 3
(cd "$D" && bsdtar -a -cf "$T/d.zip" kjv.txt sub) && ingest_as zip "$T/d.zip" 3
(cd "$D" && bsdtar -czf "$T/d.tar.gz" kjv.txt sub) && ingest_as tar.gz "$T/d.tar.gz" 3
(cd "$D" && bsdtar -cJf "$T/d.tar.xz" kjv.txt sub) && ingest_as tar.xz "$T/d.tar.xz" 3
(cd "$D" && bsdtar --zstd -cf "$T/d.tar.zst" kjv.txt sub) && ingest_as tar.zst "$T/d.tar.zst" 3
(cd "$D" && bsdtar --format 7zip -cf "$T/d.7z" kjv.txt sub) && ingest_as 7z "$T/d.7z" 3
(cd "$D" && find kjv.txt sub | bsdtar --format cpio -cf "$T/d.cpio" -T -) && \
	ingest_as cpio "$T/d.cpio" 3
(cd "$D" && bsdtar -cJf "$T/data.tar.xz" kjv.txt sub && cd "$T" && \
	printf '2.0\n' >debian-binary && ar rc "$T/d.deb" debian-binary data.tar.xz) && \
	ingest_as deb "$T/d.deb" 4
(cd "$T" && mkdir -p nest && cp d.zip nest/inner.zip && cd nest && \
	bsdtar -cf "$T/nested.tar" inner.zip) && ingest_as zip-in-tar "$T/nested.tar" 3
(cd "$D" && bsdtar -cjf "$T/d.tar.bz2" kjv.txt sub) && ingest_as tar.bz2 "$T/d.tar.bz2" 3
if (cd "$D" && bsdtar --lz4 -cf "$T/d.tar.lz4" kjv.txt sub) 2>/dev/null; then
	ingest_as tar.lz4 "$T/d.tar.lz4" 3
else
	ok 0 "# SKIP bsdtar cannot write lz4 here"
fi
(cd "$D" && bsdtar --format iso9660 -cf "$T/d.iso" kjv.txt sub) && ingest_as iso9660 "$T/d.iso" 3
gzip -c "$D/kjv.txt" >"$T/kjv.txt.gz" && ingest_as gz "$T/kjv.txt.gz" 1
bzip2 -c "$D/kjv.txt" >"$T/kjv.txt.bz2" && ingest_as bz2 "$T/kjv.txt.bz2" 1
xz -c "$D/kjv.txt" >"$T/kjv.txt.xz" && ingest_as xz "$T/kjv.txt.xz" 1
if have dictzip; then
	cp "$D/kjv.txt" "$T/kjvd.txt" && dictzip "$T/kjvd.txt" && mv "$T/kjvd.txt.dz" "$T/kjv.txt.dz"
	ingest_as dictzip "$T/kjv.txt.dz" 1
else
	ok 0 "# SKIP dictzip not installed"
fi

L=$T/lib-folder
out=$("$QUIRE" -L "$L" ingest "$D" 2>&1)
ok $? "re-ingest exits 0"
case $out in *"0 added, 0 replaced, 3 unchanged"*) ok 0 "re-ingest changes nothing";;
	*) ok 1 "re-ingest changes nothing"; diag "$out";; esac
is "$(ndocs "$L")" 3 "still 3 documents"

"$QUIRE" -L "$L" show kjv.txt:133 >"$T/line"
is "$(cat "$T/line")" "$(sed -n 133p "$D/kjv.txt")" "show :LINE prints the line"
"$QUIRE" -L "$L" show kjv.txt:2-4 >"$T/lines"
sed -n 2,4p "$D/kjv.txt" | cmp -s - "$T/lines"
ok $? "show :FIRST-LAST prints exactly those lines"
is "$("$QUIRE" -L "$L" show 'kjv.txt@0-5')" "Ge1:1" "show @START-END prints those bytes"
"$QUIRE" -L "$L" show nosuchdoc 2>"$T/e"
is $? 1 "show of a missing document fails"
grep -q nosuchdoc "$T/e"
ok $? "and names it"

s=$("$QUIRE" -L "$L" search --json methuselah)
case $s in *'"line":133'*'[Methuselah]'*) ok 0 "search --json: line and marked snippet";;
	*) ok 1 "search --json: line and marked snippet"; diag "$s";; esac
s=$("$QUIRE" -L "$L" search installer)
case $s in *"Quire Sample:7"*"[Installing]"*) ok 0 "search: title, line and section";;
	*) ok 1 "search: title, line and section"; diag "$s";; esac
"$QUIRE" -L "$L" check >"$T/check"
ok $? "check passes"
grep -q "documents: 3," "$T/check"
ok $? "check counts the documents"
"$QUIRE" -q -L "$L" rm "Sample Page"
ok $? "rm by title"
is "$(ndocs "$L")" 2 "2 documents left"
"$QUIRE" -L "$L" check >/dev/null
ok $? "check passes after rm"

# A changed file replaces its old version.
printf 'extra line\n' >>"$D/kjv.txt"
out=$("$QUIRE" -L "$L" ingest "$D/kjv.txt" 2>&1)
case $out in *"1 replaced"*) ok 0 "changed file replaced";; *) ok 1 "changed file replaced"; diag "$out";; esac
is "$("$QUIRE" -L "$L" show kjv.txt:156)" "extra line" "new text served"

done_testing
