#!/bin/sh
# t0003-doc-links.sh: every relative link and image in README.md, docs/*.md and docs/bench/*.md
# names a file or folder of the source tree, so moving a page or a benchmark report cannot
# leave a dead link behind. The checker first has to report a page with a dead link.
. "$srcdir/tests/lib.sh"

# links FILE...: "FILE<TAB>LINE<TAB>TARGET" for each Markdown link target "](TARGET)" outside
# code spans and fenced blocks that is a path (not http:, mailto:..., not #anchor alone).
links() {
	awk '
		FNR == 1 { fence = 0 }
		/^[ \t]*```/ { fence = !fence; next }
		fence { next }
		{
			line = $0
			gsub(/`[^`]*`/, "", line)
			while (match(line, /\]\([^) \t]+/)) {
				t = substr(line, RSTART + 2, RLENGTH - 2)
				line = substr(line, RSTART + RLENGTH)
				if (t ~ /^[A-Za-z][A-Za-z0-9+.-]*:/ || t ~ /^#/)
					continue
				sub(/#.*/, "", t)
				printf "%s\t%d\t%s\n", FILENAME, FNR, t
			}
		}' "$@"
}

# dead FILE...: prints "FILE:LINE: TARGET" for each link whose target does not exist.
dead() {
	links "$@" > "$TEST_TMP/links" || return 1
	while IFS='	' read -r f n t; do
		[ -e "$(dirname "$f")/$t" ] || echo "$f:$n: $t"
	done < "$TEST_TMP/links"
}

# The checker sees a dead link, and only that one.
mkdir -p "$TEST_TMP/page/sub"
: > "$TEST_TMP/page/sub/there.csv"
cat > "$TEST_TMP/page/p.md" <<'EOF'
A [good](sub/there.csv) link, ![a plot](sub/gone.png), [web](https://example.org/x.md),
[anchor](#top), [with anchor](sub/there.csv#x) and `[code](not/checked.md)`.
```
[fenced](not/checked/either.md)
```
EOF
dead "$TEST_TMP/page/p.md" > "$TEST_TMP/dead-fixture"
is "$(cat "$TEST_TMP/dead-fixture")" "$TEST_TMP/page/p.md:1: sub/gone.png" \
	"the checker reports the dead link of a test page"

cd "$srcdir" || exit 1
set -- README.md docs/*.md docs/bench/*.md
[ -f docs/ARCHITECTURE.md ] && [ -f docs/BENCHMARKS.md ] && [ "$#" -gt 3 ]
ok $? "the pages are there ($# of them)"
links "$@" > "$TEST_TMP/all" && [ -s "$TEST_TMP/all" ]
ok $? "they have links ($(wc -l < "$TEST_TMP/all"))"
dead "$@" > "$TEST_TMP/dead"
[ ! -s "$TEST_TMP/dead" ]; rc=$?
ok $rc "every relative link resolves"
[ $rc -eq 0 ] || sed 's/^/# dead: /' "$TEST_TMP/dead"

done_testing
