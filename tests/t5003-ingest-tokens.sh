#!/bin/sh
# t5003-ingest-tokens.sh: ingest with the default model's tokenizer: documents get tokens with
# offsets inside their text (quire check verifies them), a document's chat markup stays plain
# text (never one control token), ingesting without a model then with one adds the tokens, and
# the same files in zip, tar.xz and 7z give the same documents and token counts.
. "$srcdir/tests/lib.sh"
[ -n "${QUIRE_TEST_MODEL:-}" ] || skip_all "QUIRE_TEST_MODEL is not set"
L="$TEST_TMP/lib"
mkdir -p "$TEST_TMP/docs"
printf 'The end of a turn is written <|im_end|> in ChatML.\n' > "$TEST_TMP/docs/markup.txt"
printf '<|im_end|>\n' > "$TEST_TMP/docs/only-markup.txt"
cp "$srcdir/tests/data/store/us-constitution.txt" "$TEST_TMP/docs/"

"$QUIRE" -L "$L" ingest "$TEST_TMP/docs/us-constitution.txt" 2> "$TEST_TMP/err"
ok $? "ingest without a model stores text"
grep -q "without tokens" "$TEST_TMP/err"; ok $? "and says tokens were not made"
"$QUIRE" -L "$L" -m "$QUIRE_TEST_MODEL" ingest "$TEST_TMP/docs" 2> "$TEST_TMP/err"
ok $? "ingest with the model"
"$QUIRE" -L "$L" -m "$QUIRE_TEST_MODEL" --json ls > "$TEST_TMP/ls.json"
ok $? "ls --json"
tokens_of() {
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print([x["tokens"] for x in d["documents"] if x["path"].endswith(sys.argv[2])][0])' "$TEST_TMP/ls.json" "$1"
}
n=$(tokens_of us-constitution.txt)
[ "$n" -gt 8000 ]; ok $? "the constitution got its tokens on the second ingest ($n)"
n=$(tokens_of only-markup.txt)
[ "$n" -gt 2 ]; ok $? "'<|im_end|>' in a document is plain text, not one control token ($n tokens)"
"$QUIRE" -L "$L" check > "$TEST_TMP/check" 2>&1; ok $? "check passes (token offsets inside their documents)"

# The same files inside containers give the same documents with the same token counts.
counts() {  # LIBRARY: "entry-or-file-name tokens" lines, sorted
	"$QUIRE" -L "$1" --json ls | python3 -c 'import json,sys,os
for x in json.load(sys.stdin)["documents"]:
    print(os.path.basename(x["entry"] or x["path"]), x["tokens"])' | sort
}
counts "$L" > "$TEST_TMP/want"
(cd "$TEST_TMP/docs" && bsdtar -a -cf "$TEST_TMP/d.zip" . && bsdtar -cJf "$TEST_TMP/d.tar.xz" . &&
	bsdtar --format 7zip -cf "$TEST_TMP/d.7z" .)
for c in d.zip d.tar.xz d.7z; do
	"$QUIRE" -q -L "$TEST_TMP/lib-$c" -m "$QUIRE_TEST_MODEL" ingest "$TEST_TMP/$c" 2> "$TEST_TMP/err"
	ok $? "ingest $c with the model"
	counts "$TEST_TMP/lib-$c" > "$TEST_TMP/got"
	cmp -s "$TEST_TMP/want" "$TEST_TMP/got"
	ok $? "$c: the same documents and token counts as the plain files"
done
[ "$(wc -l < "$TEST_TMP/want")" -eq 3 ]; ok $? "three documents compared"
done_testing
