#!/bin/sh
# t2001-index.sh: `quire index` and the first `ask` with the default model over a small
# library: the cache is built once and reused (a second index prefills nothing, ask in a new
# process prefills only its question); kill -9 at ten seeded moments, each followed by check
# and a resume, ends in the very bytes of an uninterrupted index; damaged blocks and headers,
# a cache of other parameters under this name, a library.db replaced under the cache: each is
# named and never used; index --gc removes the stale cache.
. "$srcdir/tests/lib.sh"
[ -n "${QUIRE_TEST_MODEL:-}" ] || skip_all "QUIRE_TEST_MODEL is not set"
M="$QUIRE_TEST_MODEL"
q() { "$QUIRE" -m "$M" -t 2 "$@"; }
mkdir -p "$TEST_TMP/docs"
head -c 6000 "$srcdir/tests/data/store/us-constitution.txt" > "$TEST_TMP/docs/const.txt"
L="$TEST_TMP/lib"
q -L "$L" ingest "$TEST_TMP/docs/const.txt" 2> /dev/null; ok $? "ingest"

# A window longer than the corpus: an exact cache.
q -L "$L" --window 8192 index 2> "$TEST_TMP/err"; ok $? "index"
grep -q "tokens prefilled" "$TEST_TMP/err"; ok $? "index says what it prefilled"
kv=$(tail -n 1 "$TEST_TMP/err")
[ -f "$kv" ]; ok $? "the cache file is in the library's kv/ folder ($kv)"
total=$(sed -n 's/.*the cache holds \([0-9]*\) of \([0-9]*\) tokens.*/\2/p' "$TEST_TMP/err")
q -L "$L" --window 8192 index 2> "$TEST_TMP/err"; ok $? "a second index"
grep -q "0 tokens to prefill" "$TEST_TMP/err"; ok $? "prefills nothing and says so"
q -L "$L" check > /dev/null 2>&1; ok $? "check is ok with the cache"

# ask in a new process: only the template and the question are prefilled.
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timing"][sys.argv[2]])' "$@"; }
q -L "$L" --window 8192 --json ask -n 16 "How many senators does each state have?" \
	> "$TEST_TMP/a.json" 2> "$TEST_TMP/err"
ok $? "ask --json over the cache"
is "$(field "$TEST_TMP/a.json" tokens_attended)" "$total" "it attends over all $total cached tokens"
pre=$(field "$TEST_TMP/a.json" tokens_prefilled)
[ "$pre" -gt 10 ] && [ "$pre" -lt 80 ]; ok $? "it prefills the template and question alone ($pre tokens)"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["answer"]; sys.exit(0 if a.strip() else 1)' \
	"$TEST_TMP/a.json"; ok $? "the answer is not empty"
q -L "$L" --window 8192 ask -n 8 "How many senators does each state have?" > "$TEST_TMP/a.txt" 2>&1
ok $? "ask streams a plain answer too"
q -L "$L" --window 8192 ask "   " > /dev/null 2> "$TEST_TMP/err"
is "$?" 2 "an empty question is a usage error"
q -L "$L" ask "Who?" > /dev/null 2> "$TEST_TMP/err"
is "$?" 1 "ask with other index options (the default window) finds no cache"
grep -q "quire index" "$TEST_TMP/err"; ok $? "and says that index builds the cache"

# kill -9 at ten seeded moments, a check and a resume after each: the bytes of one run.
W="$TEST_TMP/w"
mkdir -p "$W"
head -c 4000 "$srcdir/tests/data/store/us-constitution.txt" > "$W/const.txt"
q -L "$W/ref" ingest "$W/const.txt" 2> /dev/null
q -L "$W/ref" --window 256 --block 16 index 2> "$TEST_TMP/err"; ok $? "reference windowed index"
ref=$(tail -n 1 "$TEST_TMP/err")
q -L "$W/k" ingest "$W/const.txt" 2> /dev/null
delays=$(awk 'BEGIN { srand(2001); for (i = 0; i < 10; i++) printf "%.2f ", 0.3 + rand() * 3 }')
checks=0
for d in $delays; do
	q -L "$W/k" --window 256 --block 16 index 2> /dev/null &
	pid=$!
	sleep "$d"
	kill -9 "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
	q -L "$W/k" check > "$TEST_TMP/check" 2>&1 || { checks=$((checks + 1)); cat "$TEST_TMP/check" | sed 's/^/# /'; }
done
is "$checks" 0 "check is ok after each of the 10 kills ($delays)"
q -L "$W/k" --window 256 --block 16 index 2> "$TEST_TMP/err"; ok $? "the last resume finishes"
cmp "$ref" "$W/k/kv/$(basename "$ref")"; ok $? "the killed and resumed cache equals the uninterrupted one byte for byte"

# Damage: a byte of a block, of the header; truncation.
cp "$kv" "$TEST_TMP/good.kv"
printf '\377' | dd of="$kv" bs=1 seek=5000 conv=notrunc 2> /dev/null
q -L "$L" check > "$TEST_TMP/check" 2>&1
is "$?" 1 "check fails on a flipped byte in a block"
grep -q "block 0" "$TEST_TMP/check"; ok $? "and names the block"
q -L "$L" --window 8192 ask -n 4 "Who?" > /dev/null 2> "$TEST_TMP/err"
is "$?" 1 "ask refuses the damaged cache"
grep -q "damaged" "$TEST_TMP/err"; ok $? "and says it is damaged"
cp "$TEST_TMP/good.kv" "$kv"
printf 'X' | dd of="$kv" bs=1 seek=20 conv=notrunc 2> /dev/null
q -L "$L" check > "$TEST_TMP/check" 2>&1
is "$?" 1 "check fails on a flipped byte in the header"
grep -qi "header" "$TEST_TMP/check"; ok $? "and names the header"
q -L "$L" --window 8192 ask -n 4 "Who?" > /dev/null 2>&1
is "$?" 1 "ask refuses it"
cp "$TEST_TMP/good.kv" "$kv"
truncate -s 100000 "$kv"
q -L "$L" --window 8192 ask -n 4 "Who?" > /dev/null 2> "$TEST_TMP/err"
is "$?" 1 "a truncated cache is not used"
grep -q "index" "$TEST_TMP/err"; ok $? "and ask says index goes on from what is left"
cp "$TEST_TMP/good.kv" "$kv"

# A cache of other parameters under this run's name: the header says which one differs.
q -L "$TEST_TMP/lib64" ingest "$TEST_TMP/docs/const.txt" 2> /dev/null
q -L "$TEST_TMP/lib64" --window 8192 --block 64 index 2> "$TEST_TMP/err"
name64=$(basename "$(tail -n 1 "$TEST_TMP/err")")
cp "$kv" "$L/kv/$name64"
q -L "$L" --window 8192 --block 64 ask -n 4 "Who?" > /dev/null 2> "$TEST_TMP/err"
is "$?" 1 "a cache made with other parameters is refused"
grep -q "block size 128" "$TEST_TMP/err"; ok $? "naming the parameter ($(head -n 1 "$TEST_TMP/err"))"
rm -f "$L/kv/$name64" "$L/kv/$name64.lock"

# library.db replaced under the cache.
R="$TEST_TMP/other"
printf 'A different library with different words in it.\n' > "$TEST_TMP/other.txt"
q -L "$R" ingest "$TEST_TMP/other.txt" 2> /dev/null
mkdir -p "$R/kv" && cp "$kv" "$R/kv/"
q -L "$R" --window 8192 ask -n 4 "Who?" > /dev/null 2> "$TEST_TMP/err"
is "$?" 1 "a cache of another library.db is not used"
grep -q "another corpus" "$TEST_TMP/err"; ok $? "and ask says so"
q -L "$R" check > "$TEST_TMP/check" 2>&1
is "$?" 1 "check reports the stale cache"
q -L "$R" index --gc 2> "$TEST_TMP/err"; ok $? "index --gc"
[ ! -e "$R/kv/$(basename "$kv")" ]; ok $? "removed it"
[ -e "$kv" ]; ok $? "and left the library's own cache alone"
q -L "$R" index --repair > /dev/null 2> "$TEST_TMP/err"
is "$?" 1 "index --repair is refused"
grep -q "not yet available" "$TEST_TMP/err"; ok $? "as not yet available"
done_testing
