#!/bin/sh
# t6001-rope-longctx.sh: past the trained window RoPE scaling earns its keep: over one window
# of 16384 tokens of real text (the Debian licence texts), YaRN with scale 2 and the original
# context read from the model has a lower perplexity than plain RoPE. Model test: two
# 16K-token forward passes, a few minutes on two cores.
. "$srcdir/tests/lib.sh"

[ -n "${QUIRE_TEST_MODEL:-}" ] && [ -f "$QUIRE_TEST_MODEL" ] ||
	skip_all "no test model (QUIRE_TEST_MODEL)"
lic=/usr/share/common-licenses
[ -f "$lic/GPL-3" ] || skip_all "no licence texts in $lic"
L=16384

orig=$("$QUIRE" -m "$QUIRE_TEST_MODEL" info | sed -n 's/^model.context_train: //p')
case "$orig" in
'' | *[!0-9]*) ok 1 "quire info reports model.context_train (got '$orig')"; done_testing;;
esac
ok 0 "quire info reports model.context_train ($orig)"
[ "$orig" -lt "$L" ] || skip_all "the model's window ($orig) already covers $L tokens"

# Licence texts until comfortably more than L tokens (English prose: ~4.5 bytes a token).
text="$TEST_TMP/licences.txt"
: > "$text"
for f in GPL-3 GPL-2 LGPL-2.1 LGPL-3 Apache-2.0 MPL-2.0 GFDL-1.3 Artistic CC0-1.0 MPL-1.1 \
    GPL-1 LGPL-2 GFDL-1.2 BSD; do
	[ -f "$lic/$f" ] && cat "$lic/$f" >> "$text"
	[ "$(wc -c < "$text")" -ge $((L * 6)) ] && break
done

run_ppl() {  # run_ppl NAME ARGS...: one window of L tokens into NAME.out / NAME.err
	name=$1
	shift
	start=$(date +%s)
	"$QUIRE" -m "$QUIRE_TEST_MODEL" -q "$@" perplexity "$text" --ctx $L --stride $L \
	    > "$TEST_TMP/$name.out" 2> "$TEST_TMP/$name.err"
	rc=$?
	diag "$name ($*): exit $rc, $(( $(date +%s) - start )) s: $(tr '\n' ' ' < "$TEST_TMP/$name.out")"
	[ $rc -eq 0 ] || sed 's/^/# /' "$TEST_TMP/$name.err"
}

run_ppl none --rope-scaling none
run_ppl yarn --rope-scaling yarn --rope-scale 2 --rope-orig-ctx "$orig"
none=$(sed -n 's/^ppl: //p' "$TEST_TMP/none.out")
yarn=$(sed -n 's/^ppl: //p' "$TEST_TMP/yarn.out")
grep -q "windows: 1 of $L" "$TEST_TMP/none.out"; ok $? "plain RoPE scores one window of $L tokens"
grep -q "windows: 1 of $L" "$TEST_TMP/yarn.out"; ok $? "YaRN scores one window of $L tokens"
awk -v n="$none" -v y="$yarn" 'BEGIN { exit !(n + 0 > 0 && y + 0 > 0 && y + 0 < n + 0) }'
ok $? "at $L tokens YaRN x2 (original context $orig) beats plain RoPE: ppl $yarn < $none"

done_testing
