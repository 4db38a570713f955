#!/bin/sh
# t5006-pdf.sh: PDF text through poppler-glib (SKIP when quire is built without --with-pdf):
# a two-page PDF becomes one document titled from its Info dictionary, each page a section
# with its text; show and search reach page 2; a damaged PDF fails with a message naming it,
# an encrypted one is skipped, and the library checks. Under a second.
. "${srcdir:-.}/tests/lib.sh"
D=$srcdir/tests/data/store
L=$TEST_TMP/lib
cp "$D/sample.pdf" "$D/sample-encrypted.pdf" "$TEST_TMP/"

"$QUIRE" -L "$L" ingest "$TEST_TMP/sample.pdf" 2>"$TEST_TMP/err"
st=$?
if grep -q "without PDF support" "$TEST_TMP/err"; then
	skip_all "quire is built without PDF support (configure --with-pdf)"
fi
ok $st "ingest a two-page PDF"
"$QUIRE" -L "$L" ls --json >"$TEST_TMP/ls.json"
case $(cat "$TEST_TMP/ls.json") in
*'"title":"Quire Sample PDF"'*'"format":"pdf"'*'"sections":2,'*) ok 0 "title, format pdf, two page sections";;
*) ok 1 "title, format pdf, two page sections"; diag "$(cat "$TEST_TMP/ls.json")";;
esac
"$QUIRE" -L "$L" show "sample.pdf#Page 2" >"$TEST_TMP/p2"
printf 'Chapter Two\nA zebra crossing appears on page two.\nCaf\303\251 is written in WinAnsi.\n' |
	cmp -s - "$TEST_TMP/p2"
rc=$?
ok $rc "show sample.pdf#Page 2 prints the second page's text (WinAnsi decoded to UTF-8)"
[ $rc -eq 0 ] || diag "$(od -c "$TEST_TMP/p2" | head -5)"
is "$("$QUIRE" -L "$L" show sample.pdf:1)" "Chapter One" "line 1 is the first page's first line"
s=$("$QUIRE" -L "$L" search zebra)
case $s in *"Quire Sample PDF:6"*"[Page 2]"*"[zebra]"*) ok 0 "search finds page 2, line 6";;
	*) ok 1 "search finds page 2, line 6"; diag "$s";; esac

# Damaged: cut in the middle of its objects.
head -c 600 "$D/sample.pdf" >"$TEST_TMP/cut.pdf"
"$QUIRE" -L "$L" ingest "$TEST_TMP/cut.pdf" 2>"$TEST_TMP/err"
is $? 1 "a damaged PDF fails"
grep -q "cut.pdf: .*damaged" "$TEST_TMP/err"
rc=$?
ok $rc "and the message names it and says why"
[ $rc -eq 0 ] || diag "$(cat "$TEST_TMP/err")"
"$QUIRE" -L "$L" ingest "$TEST_TMP/sample-encrypted.pdf" 2>"$TEST_TMP/err"
is $? 0 "an encrypted PDF is skipped, not an error"
grep -q "sample-encrypted.pdf: .*encrypted" "$TEST_TMP/err"
ok $? "and the message says it is encrypted"
"$QUIRE" -L "$L" check >/dev/null 2>&1
ok $? "library checks"
done_testing
