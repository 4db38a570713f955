#!/bin/sh
# t4001-niah.sh: `quire niah --lengths 2048,4096 --depths 3 --seed 1` with the default model
# builds exactly the prompts tests/data/eval/niah-ref.txt was made from (same tokens), gives
# token for token llama.cpp's greedy answers to them on all six runs (quire's attention up to
# 8192 keys computes llama.cpp's bits, engine/backend-cpu.c), and scores the same accuracy. A
# negative control without the needle must score 0, and the CSV has a row per run. The
# reference comes from tests/ref/make-niah-ref.py, which ran every prompt from scratch: quire
# reuses the keys and values of the previous prompt's shared prefix (tui/eval-run.h), so the
# equal answers also show that reuse gives a fresh run's results.
. "$srcdir/tests/lib.sh"
[ -n "${QUIRE_TEST_MODEL:-}" ] && [ -f "$QUIRE_TEST_MODEL" ] ||
	skip_all "QUIRE_TEST_MODEL is not set (the default model)"
ref="$srcdir/tests/data/eval/niah-ref.txt"
q() { "$QUIRE" -q -m "$QUIRE_TEST_MODEL" -t 2 "$@"; }

q niah --lengths 2048,4096 --depths 3 --seed 1 --prompts-out "$TEST_TMP/p.jsonl" \
	--csv "$TEST_TMP/runs.csv" > "$TEST_TMP/out" 2> "$TEST_TMP/err"
ok $? "quire niah runs"
sed 's/^/# /' "$TEST_TMP/err"
grep '^length ' "$TEST_TMP/out" | sed 's/^/# /'
got_acc=$(sed -n 's/^accuracy: //p' "$TEST_TMP/out")
ref_acc=$(sed -n 's/^accuracy: //p' "$ref")
tail -n 1 "$TEST_TMP/out" | grep -q '^accuracy: [0-9]*/6$'
ok $? "ends with 'accuracy: X/6' ($got_acc)"
grep -q '^depth \\ length' "$TEST_TMP/out"
ok $? "prints the depth x length table"
is "$(grep -c '^[0-9]' "$TEST_TMP/runs.csv")" 6 "CSV has a row per run"
reused=$(sed -n 's/^prompt tokens: [0-9]*, of which \([0-9]*\) were.*/\1/p' "$TEST_TMP/out")
[ "${reused:-0}" -gt 0 ] && [ $((reused % 512)) -eq 0 ]
ok $? "shared prefixes were reused, in whole batches ($reused tokens)"

# Per run: the prompt (its tokens' FNV-1a), correctness and greedy tokens, quire's
# ("FNV CORRECT ID...") and llama.cpp's ("FNV CORRECT ID:GAP ... [eog:GAP]").
sed -n 's/.*"prompt_fnv": "\([0-9a-f]*\)", "correct": \([01]\), "gen_ids": \[\([-0-9, ]*\)\].*/\1 \2 \3/p' \
	"$TEST_TMP/p.jsonl" | tr -d , > "$TEST_TMP/got"
awk '$1 == "niah" { s = $6 " " $7; for (i = 9; i <= NF && $i != "answer"; i++) s = s " " $i; print s }' \
	"$ref" > "$TEST_TMP/want"
is "$(wc -l < "$TEST_TMP/got")" 6 "six runs recorded"
is "$(wc -l < "$TEST_TMP/want")" 6 "six reference runs"
# Where quire's tokens first leave llama.cpp's, and llama.cpp's top-2 gap there: "same", or
# "K GAP" (quire stopping early counts as choosing end-of-generation).
diverge() {
	awk -v got="$1" -v want="$2" 'BEGIN {
		ng = split(got, g, " "); nw = split(want, w, " ")
		for (k = 3; k <= nw || k <= ng; k++) {
			split(w[k], p, ":"); wid = (k <= nw) ? p[1] : "eog"; gap = (k <= nw) ? p[2] : 99
			gid = (k <= ng) ? g[k] : "eog"
			if (wid != gid) { printf "%d %s\n", k - 2, gap; exit }
			if (wid == "eog") break
		}
		print "same" }'
}
i=0
while [ $i -lt 6 ]; do
	i=$((i + 1))
	g=$(sed -n "${i}p" "$TEST_TMP/got")
	w=$(sed -n "${i}p" "$TEST_TMP/want")
	set -- $g
	gfnv=$1 gok=$2
	set -- $w
	wfnv=$1 wok=$2
	is "$gfnv" "$wfnv" "run $i: the prompt llama.cpp answered (same tokens)"
	d=$(diverge "$g" "$w")
	if [ "$d" = same ]; then
		ok 0 "run $i: greedy answer token for token as llama.cpp's"
	else
		ok 1 "run $i: greedy answer token for token as llama.cpp's (diverges at token ${d% *}, llama.cpp's top-2 gap there ${d#* })"
		printf '#        quire: %s\n#    llama.cpp: %s\n' "$g" "$w"
	fi
	is "$gok" "$wok" "run $i: scored as llama.cpp's answer"
done
is "$got_acc" "$ref_acc" "accuracy equals llama.cpp's"

# Negative control: the same prompts with the information line left out score nothing.
q niah --lengths 2048 --depths 3 --seed 1 --no-needle > "$TEST_TMP/neg" 2>&1
ok $? "quire niah --no-needle runs"
is "$(sed -n 's/^accuracy: //p' "$TEST_TMP/neg")" "0/3" "without the needle the score is 0"
done_testing
