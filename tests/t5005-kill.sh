#!/bin/sh
# t5005-kill.sh: kill -9 at 20 moments during an ingest (delays from a seeded sequence, spread
# over the time a clean ingest takes): each time `quire check` and SQLite's integrity check are
# ok, every document present equals its clean-ingest self (text, sections and, with
# QUIRE_TEST_MODEL, tokens and corpus place; never half of one), and ingesting again ends with
# every document exactly once, equal to a clean ingest. About 13 s (18 s with the model) on
# the shared 2-core development machine (a sanitizer build ingests fewer documents to stay
# near that); QUIRE_KILLS and QUIRE_KILL_SEED change the run.
. "${srcdir:-.}/tests/lib.sh"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 needed to look inside the library"
command -v awk >/dev/null 2>&1 || skip_all "awk needed"
export LC_ALL=C
T=$TEST_TMP
KILLS=${QUIRE_KILLS:-20}
SEED=${QUIRE_KILL_SEED:-5005}
NDOCS=120
MODEL=
if [ -n "${QUIRE_TEST_MODEL:-}" ] && [ -f "$QUIRE_TEST_MODEL" ]; then
	MODEL="-m $QUIRE_TEST_MODEL"
fi
t_begin=$(date +%s)

# Documents of about 10 KB, each different, each with chapter and clause sections.
mkdir -p "$T/docs"
awk -v dir="$T/docs" -v n=$NDOCS 'BEGIN {
	split("river stone light field house garden winter letter music road", w, " ");
	for (d = 1; d <= n; d++) {
		f = sprintf("%s/doc%03d.txt", dir, d);
		for (c = 1; c <= 6; c++) {
			printf "Chapter %d\n\n", c > f;
			for (p = 1; p <= 12; p++) {
				line = sprintf("%d.%d Document %d speaks of the", c, p, d);
				for (k = 0; k < 18; k++)
					line = line " " w[1 + (d * 7 + c * 3 + p + k * k) % 10];
				print line "." > f;
			}
			print "" > f;
		}
		close(f);
	}
}'

# One line per document: everything a complete document has, so a half one cannot match.
SIG="SELECT d.path, d.sha256, d.text_bytes, d.lines,
  (SELECT count(*) || '/' || COALESCE(sum(length(CAST(body AS BLOB))), 0) FROM chunks
     WHERE doc_id = d.id),
  (SELECT count(*) || '/' || COALESCE(sum(byte_start + byte_end + line), 0) FROM sections
     WHERE doc_id = d.id),
  (SELECT COALESCE(sum(n), 0) || '/' || COALESCE(sum(length(ids)), 0) FROM tokens
     WHERE doc_id = d.id),
  (SELECT group_concat(position || '+' || n_tokens) FROM corpus
     WHERE doc_id = d.id AND removed = 0)
FROM documents d ORDER BY d.path;"
sig() { sqlite3 -separator '|' "$1/library.db" "$SIG"; }

# wait_lib DIR PID: until DIR/library.db exists (the ingest has loaded the model and opened the
# library: documents come next) or PID is gone; at most about 10 s.
wait_lib() {
	n=0
	while [ ! -f "$1/library.db" ] && kill -0 "$2" 2>/dev/null && [ $n -lt 1000 ]; do
		sleep 0.01
		n=$((n + 1))
	done
}

# The clean ingest, and how long its documents take (from the library's creation to the end:
# kills are timed from that point, so a slow start does not push them before it). A slow
# build (sanitizers) gets fewer documents, so the test stays near its time.
clean_ingest() {
	rm -rf "$T/clean"
	"$QUIRE" -q -L "$T/clean" $MODEL ingest "$T/docs" 2>"$T/err" &
	cpid=$!
	wait_lib "$T/clean" $cpid
	s0=$(date +%s%N)
	wait $cpid
	st=$?
	s1=$(date +%s%N)
	clean_ms=$(( (s1 - s0) / 1000000 ))
	return $st
}
clean_ingest
st=$?
if [ $st -eq 0 ] && [ $clean_ms -gt 1500 ]; then
	keep=$((NDOCS * 1000 / clean_ms))
	[ $keep -ge 20 ] || keep=20
	diag "clean ingest of $NDOCS documents took $clean_ms ms: keeping $keep"
	i=$((keep + 1))
	while [ $i -le $NDOCS ]; do rm -f "$T/docs/$(printf 'doc%03d.txt' $i)"; i=$((i + 1)); done
	NDOCS=$keep
	clean_ingest
	st=$?
fi
ok $st "clean ingest of $NDOCS documents${MODEL:+ with the model tokenizer}"
sig "$T/clean" >"$T/clean.sig"
sort "$T/clean.sig" >"$T/clean.sorted"
is "$(wc -l <"$T/clean.sig" | tr -d ' ')" $NDOCS "clean library holds $NDOCS documents"
bad=$(awk -F'|' -v m="$MODEL" '$6 ~ /^0\// || (m != "" && ($7 ~ /^0\// || $8 == ""))' \
	"$T/clean.sig" | wc -l | tr -d ' ')
is "$bad" 0 "every clean document has sections${MODEL:+, tokens and a corpus place}"
diag "clean ingest: $clean_ms ms from the library's creation to the end"

# Delays after the library appears: seeded fractions of the clean ingest's, 5% .. 95%.
awk -v seed="$SEED" -v k="$KILLS" -v ms="$clean_ms" 'BEGIN {
	srand(seed);
	for (i = 0; i < k; i++) printf "%.3f\n", (0.05 + 0.9 * rand()) * ms / 1000;
}' >"$T/delays"

mid=0 i=0
while read -r delay; do
	i=$((i + 1))
	L=$T/lib$i
	"$QUIRE" -q -L "$L" $MODEL ingest "$T/docs" 2>/dev/null &
	pid=$!
	wait_lib "$L" $pid
	sleep "$delay"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	if [ ! -f "$L/library.db" ]; then
		ok 0 "kill $i after ${delay} s: before the library was created"
		continue
	fi
	problems=
	"$QUIRE" -L "$L" check >"$T/check" 2>&1 || problems="quire check failed"
	ic=$(sqlite3 "$L/library.db" "PRAGMA integrity_check;" 2>&1)
	[ "$ic" = ok ] || problems="$problems; integrity_check: $ic"
	sig "$L" >"$T/part.sig"
	n=$(wc -l <"$T/part.sig" | tr -d ' ')
	# Documents not exactly as in the clean library: half-stored or wrong.
	half=$(sort "$T/part.sig" | comm -23 - "$T/clean.sorted" | wc -l | tr -d ' ')
	[ "$half" -eq 0 ] || problems="$problems; $half document(s) differ from the clean ingest"
	[ "$n" -gt 0 ] && [ "$n" -lt $NDOCS ] && mid=$((mid + 1))
	# Ingest again: it finishes the work, each document once, equal to the clean library.
	"$QUIRE" -q -L "$L" $MODEL ingest "$T/docs" 2>"$T/err" || problems="$problems; re-ingest failed"
	sig "$L" >"$T/full.sig"
	cmp -s "$T/full.sig" "$T/clean.sig" || problems="$problems; after re-ingest not equal to clean"
	"$QUIRE" -L "$L" check >"$T/check2" 2>&1 || problems="$problems; check after re-ingest failed"
	if [ -z "$problems" ]; then
		ok 0 "kill $i after ${delay} s ($n of $NDOCS documents stored): consistent, then complete"
	else
		ok 1 "kill $i after ${delay} s ($n of $NDOCS documents stored)"
		diag "$problems"
		sed 's/^/#   /' "$T/check" | head -5
		diff "$T/full.sig" "$T/clean.sig" | head -5 | sed 's/^/#   /'
	fi
	rm -rf "$L"
done <"$T/delays"
[ $mid -ge $((KILLS / 2)) ]
ok $? "at least half of the kills landed mid-ingest ($mid of $KILLS)"
diag "whole test: $(( $(date +%s) - t_begin )) s"
done_testing
