#!/bin/sh
# t8001-sessions.sh: `quire sessions` over a library holding two sessions (written by
# tests/session-fixture with QUIRE_NOW pinned): ls and ls --json, show, export as Markdown and
# JSON against golden files (tests/data/sessions-export.{md,json}), quotes that are the
# library's bytes, rename and rm, their errors and exit codes, the writer lock, and check.
. "${srcdir:-.}/tests/lib.sh"

T=$TEST_TMP
L=$T/lib
FIXTURE=${top_builddir:-.}/tests/session-fixture
export TZ=UTC
mkdir -p "$T/docs"
cp "$srcdir/tests/data/store/kjv-genesis.txt" "$T/docs/kjv.txt"
"$QUIRE" -q -L "$L" ingest "$T/docs/kjv.txt" 2>"$T/err"; ok $? "ingest kjv.txt"
"$FIXTURE" "$L" 2>>"$T/err"; ok $? "the fixture writes two sessions"
[ -s "$T/err" ] && diag "$(cat "$T/err")"
q() { "$QUIRE" -L "$L" "$@"; }

# ls: newest first, in 80 columns, the last question cut without splitting a character.
q sessions ls >"$T/ls" 2>"$T/err"; ok $? "sessions ls exits 0"
q sessions >"$T/ls0" 2>&1
cmp -s "$T/ls" "$T/ls0"; ok $? "sessions alone is sessions ls"
cat >"$T/ls-want" <<'EOF'
NAME        TURNS  UPDATED           LAST QUESTION
genesis         2  2026-01-02 03:06  And the "firmament" — what was it called?…
café notes      1  2026-01-01 03:04  Who named the stars? A question long enoug…
EOF
cmp -s "$T/ls" "$T/ls-want"; rc=$?
ok $rc "ls lists name, turns, update time and last question"
[ $rc -eq 0 ] || sed 's/^/# /' "$T/ls"
# Characters, not bytes: drop UTF-8 continuation bytes (every character here is one column).
long=$(LC_ALL=C tr -d '\200-\277' <"$T/ls" | LC_ALL=C awk 'length($0) > 80 { n++ } END { print n + 0 }')
is "$long" 0 "no ls line is wider than 80 characters"
q --json sessions ls >"$T/ls.json"; ok $? "ls --json exits 0"
grep -q '^{"sessions":\[{"name":"genesis","turns":2,"created":1767323045,"updated":1767323160,' \
	"$T/ls.json"; ok $? "ls --json gives name, turns and times"
grep -q '"last_question":"Who named the stars?' "$T/ls.json"; ok $? "and the last question"

# show: every turn with its citations and quotes.
q sessions show genesis >"$T/show" 2>"$T/err"; ok $? "show exits 0"
grep -qxF '  [2] kjv.txt:3-5  kjv.txt — Ge1:3 — lines 3–5' "$T/show"
ok $? "show names each citation: ref, title, section, lines"
grep -qxF '      Ge1:4 And God saw the light, that it was good: and God divided the light from the darkness.' \
	"$T/show"; ok $? "show quotes the cited text, indented"
grep -q '^Q2: And the "firmament"' "$T/show"; ok $? "show numbers the questions"
grep -qxF '(no answer)' "$T/show"; is $? 1 "an answered turn is not marked unanswered"
q sessions show 'café notes' | grep -qxF '(no answer)'; ok $? "a turn without an answer says so"

# export: golden files (the document's path differs per run: it is written TMP).
q sessions export genesis >"$T/export.md" 2>"$T/err"; ok $? "export exits 0"
cmp -s "$T/export.md" "$srcdir/tests/data/sessions-export.md"; rc=$?
ok $rc "export as Markdown matches tests/data/sessions-export.md"
[ $rc -eq 0 ] || diff "$srcdir/tests/data/sessions-export.md" "$T/export.md" | sed 's/^/# /'
q sessions export genesis --format md | cmp -s - "$T/export.md"; ok $? "--format md is the default"
q sessions export --format json genesis | sed "s|$T|TMP|g" >"$T/export.json"
cmp -s "$T/export.json" "$srcdir/tests/data/sessions-export.json"; rc=$?
ok $rc "export as JSON matches tests/data/sessions-export.json"
[ $rc -eq 0 ] || diff "$srcdir/tests/data/sessions-export.json" "$T/export.json" | sed 's/^/# /'
q --json sessions export genesis | sed "s|$T|TMP|g" | cmp -s - "$T/export.json"
ok $? "--json export is the JSON export"
q --json sessions show genesis | sed "s|$T|TMP|g" | cmp -s - "$T/export.json"
ok $? "--json show is the JSON export"
if [ -n "$PYTHON3" ] && [ -x "$PYTHON3" ]; then
	"$PYTHON3" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert len(d["turns"]) == 2' \
		"$T/export.json"; ok $? "the JSON export parses"
else
	ok 0 "# SKIP python3 not found"
fi

# The quotes are the library's own bytes: what quire show prints for each ref.
for ref in kjv.txt:1 kjv.txt:3-5 kjv.txt:8; do
	q show "$ref" | sed 's/^/> /' >"$T/quote"
	awk -v r="\`$ref\`" 'index($0, r) { f = 1; getline; next } f && /^>/ { print; next } f { exit }' \
		"$T/export.md" >"$T/quoted"
	cmp -s "$T/quote" "$T/quoted"; ok $? "the quote of $ref is quire show $ref"
done

# Errors: unknown sessions exit 1 naming them; usage errors exit 2.
q sessions show nosuch >"$T/out" 2>"$T/err"; is $? 1 "show of an unknown session exits 1"
is "$(cat "$T/err")" "quire: sessions: no session named 'nosuch'" "and names it"
test ! -s "$T/out"; ok $? "nothing on stdout"
q sessions export nosuch 2>"$T/err"; is $? 1 "export of an unknown session exits 1"
q sessions rm nosuch 2>"$T/err"; is $? 1 "rm of an unknown session exits 1"
grep -qF "quire: sessions: no session named 'nosuch'" "$T/err"; ok $? "rm names it"
q sessions frob 2>"$T/err"; is $? 2 "an unknown subcommand exits 2"
grep -q "unknown subcommand 'frob'" "$T/err"; ok $? "and is named"
q sessions show 2>/dev/null; is $? 2 "show without a name exits 2"
q sessions rename genesis 2>/dev/null; is $? 2 "rename without a new name exits 2"
q sessions ls genesis 2>/dev/null; is $? 2 "ls with a name exits 2"
q sessions export genesis --format xml 2>"$T/err"; is $? 2 "an unknown --format exits 2"
grep -q "'xml' is not one of md, json" "$T/err"; ok $? "and lists the formats"
q sessions show genesis --format json 2>/dev/null; is $? 2 "--format goes with export only"
"$QUIRE" -L "$T/none" sessions 2>/dev/null; is $? 1 "a missing library exits 1"

# rename and rm.
q sessions rename genesis 'café notes' 2>"$T/err"; is $? 1 "renaming onto a taken name exits 1"
grep -qF "a session named 'café notes' already exists" "$T/err"; ok $? "and names the conflict"
q sessions rename genesis 'a/b' 2>"$T/err"; is $? 1 "renaming to a bad name exits 1"
grep -qF "bad session name 'a/b'" "$T/err"; ok $? "and names it"
q sessions rename genesis 'Genèse 1' >"$T/out"; ok $? "rename genesis"
q sessions show genesis 2>/dev/null; is $? 1 "the old name is gone"
q sessions export 'Genèse 1' | sed 1,3d >"$T/renamed"
sed 1,3d "$T/export.md" >"$T/orig"
cmp -s "$T/renamed" "$T/orig"; ok $? "the renamed session keeps its turns"
# Writes take the library's writer lock.
if command -v flock >/dev/null 2>&1; then
	flock "$L/library.lock" sleep 3 &
	sleep 1
	QUIRE_BUSY_MS=200 q sessions rm 'Genèse 1' 2>"$T/err"; is $? 1 "rm waits for the writer lock"
	grep -q "being written" "$T/err"; ok $? "and says the library is being written"
	wait
else
	ok 0 "# SKIP flock not installed"; ok 0 "# SKIP flock not installed"
fi
q sessions rm 'Genèse 1' >"$T/out"; ok $? "rm the session"
is "$(cat "$T/out")" "removed session Genèse 1" "rm says what it removed"
q sessions ls >"$T/ls"
is "$(wc -l <"$T/ls" | tr -d ' ')" 2 "one session is left"
q check >"$T/out" 2>"$T/err"; ok $? "quire check is clean with sessions"
q sessions rm 'Genèse 1' 2>/dev/null; is $? 1 "removing it again exits 1"
q sessions rm 'café notes' >/dev/null; ok $? "rm the last session"
q sessions ls >"$T/out" 2>"$T/err"; ok $? "ls of no sessions exits 0"
test ! -s "$T/out"; ok $? "and prints nothing on stdout"
grep -q "sessions: none yet" "$T/err"; ok $? "but says so on stderr"
q check >"$T/out" 2>"$T/err"; ok $? "quire check is clean"
grep -q '^check: ok' "$T/out"; ok $? "check says ok"
done_testing
