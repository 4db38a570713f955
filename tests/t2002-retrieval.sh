#!/bin/sh
# t2002-retrieval.sh: retrieval attention with the default model. The passkey (EVAL.md 2.2, a
# 6-digit key) at 32K tokens, four times the model's window, at depths 10%, 40% and 70%:
# each haystack indexed (window 512) and the question answered over 8 blocks per layer chosen
# by attention: every key found; the same caches with 8 random blocks per layer (the control):
# at least two missed. Then on a library indexed with a short window: ask --attn retrieval
# reads the summaries' side file; a damaged summary is named by check and never used, and
# the next index writes damaged or missing summaries again.
. "$srcdir/tests/lib.sh"
[ -n "${QUIRE_TEST_MODEL:-}" ] || skip_all "QUIRE_TEST_MODEL is not set"
q() { "$QUIRE" -m "$QUIRE_TEST_MODEL" -t 2 "$@"; }

q --attn retrieval --window 512 --topk 8 niah --lengths 32768 --at 10,40,70 \
	--select attention,random > "$TEST_TMP/niah" 2> "$TEST_TMP/err"
ok $? "niah --attn retrieval at 32K tokens"
sed 's/^/# /' "$TEST_TMP/niah" | grep -v "^# *$" | tail -n 12
is "$(sed -n 's/^accuracy: //p' "$TEST_TMP/niah")" "3/3" "attention selection finds the key at 10%, 40% and 70%"
random=$(sed -n 's/^accuracy\[random\]: \([0-9]*\)\/3$/\1/p' "$TEST_TMP/niah")
[ -n "$random" ] && [ "$random" -le 1 ]; ok $? "random selection misses at least 2 of 3 (${random:-?}/3 found)"

# A library longer than its index window: ask takes retrieval, through the side file.
L="$TEST_TMP/lib"
python3 - "$TEST_TMP/hay.txt" <<'EOF'
import sys
g = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
out = [g] * 120
out.insert(70, "The pass key is 714326. Remember it. 714326 is the pass key. ")
open(sys.argv[1], "w").write("".join(out))
EOF
q -L "$L" ingest "$TEST_TMP/hay.txt" 2> /dev/null; ok $? "ingest a 2.7K-token haystack"
q -L "$L" --window 512 index 2> "$TEST_TMP/err"; ok $? "index it with a 512-token window"
kv=$(tail -n 1 "$TEST_TMP/err")
[ -f "${kv%.kv}.sum" ]; ok $? "the block summaries sit beside the cache"
q -L "$L" check > "$TEST_TMP/check" 2>&1; ok $? "check is ok"
ask() {
	q -L "$L" --window 512 --topk 4 --json ask -n 16 "What is the pass key?" \
		> "$TEST_TMP/a.json" 2> "$TEST_TMP/err"
}
ask; ok $? "ask over a cache that is not exact"
python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
assert d["attention"] == "retrieval", d["attention"]
assert d["timing"]["tokens_attended"] == (1 + 4) * 128, d["timing"]
assert len(d["retrieval"]["layers"]) == 30 and all(len(l) == 4 for l in d["retrieval"]["layers"])' \
	"$TEST_TMP/a.json"
ok $? "auto picks retrieval: the first block and 4 more per layer attended"
printf '\377\377\377\377' | dd of="${kv%.kv}.sum" bs=1 seek=5000 conv=notrunc 2> /dev/null
q -L "$L" check > "$TEST_TMP/check" 2>&1
is "$?" 1 "check fails on a damaged summary"
grep -q "summary of block 0" "$TEST_TMP/check"; ok $? "and names the block"
ask; ok $? "ask still answers"
grep -q "rebuilt from" "$TEST_TMP/err"; ok $? "saying the damaged summary was rebuilt, not used"
q -L "$L" --window 512 index 2> "$TEST_TMP/err"; ok $? "index with nothing new to prefill"
grep -q "summaries were missing or damaged" "$TEST_TMP/err"; ok $? "writes the damaged summary again"
q -L "$L" check > "$TEST_TMP/check" 2>&1; ok $? "and check is ok again"
rm -f "${kv%.kv}.sum"
q -L "$L" --window 512 index 2> "$TEST_TMP/err"; ok $? "index after the side file was deleted"
grep -q "[0-9]* block summaries were missing" "$TEST_TMP/err"; ok $? "writes every summary again"
q -L "$L" check > "$TEST_TMP/check" 2>&1; ok $? "and check is ok"
q -L "$L" --window 512 --attn exact ask -n 4 "What is the pass key?" > /dev/null 2> "$TEST_TMP/err"
is "$?" 1 "--attn exact refuses a cache indexed with a window shorter than the corpus"
grep -q "window shorter than the corpus" "$TEST_TMP/err"; ok $? "and says why"
done_testing
