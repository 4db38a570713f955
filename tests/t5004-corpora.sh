#!/bin/sh
# t5004-corpora.sh: known counts on real texts from Debian packages (scripts/corpora.sh fetches
# them into $QUIRE_CORPORA; SKIP without them): the KJV has 31,102 verse lines and as many verse
# sections, 66 books and 1,189 chapters; `show kjv.txt#REF` gives each verse's line and text;
# the words of policy.epub match those of debian-policy.txt on at least 98%.
# About 3 s on the development machine (ingest of 5.3 MB without a model ~1.5 s).
. "${srcdir:-.}/tests/lib.sh"

C=${QUIRE_CORPORA:-}
for f in kjv.txt debian-policy.txt policy.epub; do
	[ -n "$C" ] && [ -s "$C/$f" ] ||
		skip_all "no $f in QUIRE_CORPORA='$C' (scripts/corpora.sh or make corpora fetches it)"
done
export LC_ALL=C
T=$TEST_TMP
L=$T/lib
t0=$(date +%s)

"$QUIRE" -q -L "$L" ingest "$C/kjv.txt" "$C/debian-policy.txt" "$C/policy.epub" 2>"$T/err"
ok $? "ingest kjv.txt, debian-policy.txt and policy.epub"
[ -s "$T/err" ] && diag "$(cat "$T/err")"
t1=$(date +%s)

# --- KJV ---
is "$(wc -l <"$C/kjv.txt" | tr -d ' ')" 31102 "kjv.txt has 31102 lines"
is "$(grep -c -E '^[1-4]?[A-Z][A-Za-z]*[0-9]+:[0-9]+ ' "$C/kjv.txt")" 31102 \
	"every line of kjv.txt is a verse"
"$QUIRE" -L "$L" ls --json >"$T/ls.json"
secs=$(tr '{' '\n' <"$T/ls.json" | grep '"kjv.txt"' | grep -o '"sections":[0-9]*' | cut -d: -f2)
is "$secs" $((31102 + 1189 + 66)) "kjv.txt: 31102 verse + 1189 chapter + 66 book sections"
if command -v sqlite3 >/dev/null 2>&1; then
	q="SELECT level, count(*) FROM sections JOIN documents d ON d.id = doc_id
	   WHERE d.title = 'kjv.txt' GROUP BY level ORDER BY level;"
	is "$(sqlite3 "$L/library.db" "$q" | tr '\n' ' ')" "1|66 2|1189 3|31102 " \
		"kjv.txt sections by level: 66 books, 1189 chapters, 31102 verses"
	q="SELECT count(*) FROM (SELECT s.line, row_number() OVER (ORDER BY s.byte_start) AS n
	   FROM sections s JOIN documents d ON d.id = s.doc_id
	   WHERE d.title = 'kjv.txt' AND s.level = 3) WHERE line = n;"
	is "$(sqlite3 "$L/library.db" "$q")" 31102 "verse section N starts on line N"
else
	ok 0 "# SKIP sqlite3 not installed (sections by level)"
	ok 0 "# SKIP sqlite3 not installed (verse lines)"
fi

# verse REF LINE: `show kjv.txt#REF` prints line LINE exactly, and --json names that line.
verse() {
	"$QUIRE" -L "$L" show "kjv.txt#$1" >"$T/v" 2>"$T/verr"
	st=$?
	sed -n "$2p" "$C/kjv.txt" | cmp -s - "$T/v"
	ok $((st + $?)) "show kjv.txt#$1 prints line $2 exactly"
	[ $st -eq 0 ] || diag "$(cat "$T/verr")"
	j=$("$QUIRE" -L "$L" --json show "kjv.txt#$1")
	case $j in
	*"\"line_start\":$2,\"line_end\":$2,"*"\"text\":\"$1 "*) ok 0 "show --json kjv.txt#$1: line $2";;
	*) ok 1 "show --json kjv.txt#$1: line $2"; diag "$j";;
	esac
}
verse Ge1:1 1
verse Ge5:27 133
verse Psa119:105 16004
verse SSol8:14 17655
verse Mat1:1 23146
verse Rev22:21 31102
"$QUIRE" -L "$L" show "kjv.txt#Rev22" >"$T/ch"
sed -n 31082,31102p "$C/kjv.txt" | cmp -s - "$T/ch"
ok $? "show kjv.txt#Rev22 prints the chapter's 21 verses"
"$QUIRE" -L "$L" show "kjv.txt#Rev23:1" 2>"$T/e"
is $? 1 "a missing section fails"
grep -q 'no section "Rev23:1"' "$T/e"
ok $? "and is named"

# --- Debian Policy: EPUB against the text rendering, word for word ---
words() { tr -cs '[:alnum:]' '\n' | grep -v '^$'; }
"$QUIRE" -L "$L" show policy.epub | words >"$T/w-epub"
words <"$C/debian-policy.txt" >"$T/w-txt"
ne=$(wc -l <"$T/w-epub" | tr -d ' ')
nt=$(wc -l <"$T/w-txt" | tr -d ' ')
# Words only in the EPUB's sequence (diff's "<" lines); the rest are common to both.
only=$(diff "$T/w-epub" "$T/w-txt" | grep -c '^<')
common=$((ne - only))
longer=$((ne > nt ? ne : nt))
pm=$((common * 1000 / longer))
[ "$ne" -gt 50000 ] && [ "$pm" -ge 980 ]
ok $? "policy.epub words match debian-policy.txt: $common common of $longer = $((pm / 10)).$((pm % 10))% (>= 98%)"
diag "policy.epub: $ne words; debian-policy.txt: $nt words"
case $(tr '{' '\n' <"$T/ls.json" | grep 'policy.epub"') in
*'"title":"Debian Policy Manual"'*) ok 0 "policy.epub: title from the OPF";;
*) ok 1 "policy.epub: title from the OPF";;
esac
"$QUIRE" -L "$L" show "policy.epub#1.1. Scope" | head -n 1 >"$T/scope"
is "$(cat "$T/scope")" "1.1. Scope" "policy.epub#1.1. Scope starts at its heading"

"$QUIRE" -L "$L" check >"$T/check" 2>&1
ok $? "check passes"
t2=$(date +%s)
diag "ingest $((t1 - t0)) s, whole test $((t2 - t0)) s"
done_testing
