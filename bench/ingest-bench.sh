#!/bin/sh
# ingest-bench.sh: ingest throughput of `quire ingest` on real texts, text only and with the
# model's tokenizer: wall time, MB/s of input and tokens/s, the median of RUNS fresh ingests
# per configuration, per file and for the three together; then whether 10 MB of text (the first
# 10,000,000 bytes of the Python docs, whole lines) ingest with tokens in under 10 s. Prints a
# Markdown table; the load average before and after goes with it (the machine is shared).
#
#   bench/ingest-bench.sh [-q QUIRE] [-m MODEL] [-r RUNS] [CORPUS_DIR]
#
# CORPUS_DIR holds kjv.txt, austen-all.txt and python311-doc.rst.txt, made from Debian packages
# as docs/bench/bench-ingest.md says (default /tmp/store/corpora/text).
# About 2 minutes with the defaults (RUNS=3) on a 2-core machine.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
QUIRE=$TOP/build/quire
MODEL=${QUIRE_TEST_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/quire/models/SmolLM2-135M-Instruct.Q4_1.gguf}
RUNS=3
while getopts q:m:r: o; do
	case $o in
	q) QUIRE=$OPTARG;;
	m) MODEL=$OPTARG;;
	r) RUNS=$OPTARG;;
	*) echo "usage: $0 [-q QUIRE] [-m MODEL] [-r RUNS] [CORPUS_DIR]" >&2; exit 2;;
	esac
done
shift $((OPTIND - 1))
C=${1:-/tmp/store/corpora/text}
FILES="kjv.txt austen-all.txt python311-doc.rst.txt"
for f in $FILES; do
	[ -s "$C/$f" ] || { echo "ingest-bench: no $C/$f" >&2; exit 1; }
done
[ -x "$QUIRE" ] || { echo "ingest-bench: no quire at $QUIRE (build first)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "ingest-bench: no model at $MODEL (-m MODEL)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/ingest-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
# No default model unless -m names one: XDG_DATA_HOME points at an empty folder.
export XDG_DATA_HOME="$W/xdg" XDG_CONFIG_HOME="$W/xdg-config"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
tokens_of() {  # total tokens in library $1
	"$QUIRE" -L "$1" ls --json | grep -o '"tokens":[0-9]*' | cut -d: -f2 |
		awk '{ s += $1 } END { print s + 0 }'
}

# run NAME MODE PATH...: median wall ms over RUNS fresh libraries; prints a table row.
run() {
	name=$1 mode=$2
	shift 2
	bytes=$(cat "$@" | wc -c)
	: >"$W/times"
	tok=0
	i=0
	while [ $i -lt "$RUNS" ]; do
		i=$((i + 1))
		rm -rf "$W/lib"
		t0=$(now_ms)
		if [ "$mode" = tokens ]; then
			"$QUIRE" -q -L "$W/lib" -m "$MODEL" ingest "$@" 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
		else
			"$QUIRE" -q -L "$W/lib" ingest "$@" 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
		fi
		t1=$(now_ms)
		echo $((t1 - t0)) >>"$W/times"
		tok=$(tokens_of "$W/lib")
	done
	ms=$(median <"$W/times")
	awk -v n="$name" -v m="$mode" -v b="$bytes" -v ms="$ms" -v t="$tok" -v all="$(tr '\n' ' ' <"$W/times")" 'BEGIN {
		s = ms / 1000;
		printf "| %s | %s | %.1f | %.2f | %.1f | %s | %s | %s |\n", n, m, b / 1e6, s,
		    b / 1e6 / s, (t > 0 ? t : "-"), (t > 0 ? sprintf("%.0f", t / s) : "-"), all;
	}'
}

echo "quire: $("$QUIRE" --version 2>/dev/null | head -n 1)"
echo "model: $MODEL"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) online"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| input | mode | MB | median s | MB/s | tokens | tokens/s | runs (ms) |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
for mode in text tokens; do
	for f in $FILES; do
		run "$f" $mode "$C/$f"
	done
	run "all three" $mode $(for f in $FILES; do echo "$C/$f"; done)
done

# 10 MB with tokens: whole lines of the Python docs up to 10,000,000 bytes.
head -c 10000000 "$C/python311-doc.rst.txt" | sed '$d' >"$W/python-10mb.txt"
run "python docs, first 10 MB" tokens "$W/python-10mb.txt" | tee "$W/row10"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
s=$(cut -d'|' -f5 "$W/row10" | tr -d ' ')
mb=$(cut -d'|' -f4 "$W/row10" | tr -d ' ')
awk -v s="$s" -v mb="$mb" 'BEGIN { printf "10 MB in under 10 s: %s (%.1f MB in %.2f s)\n",
	(s < 10 ? "yes" : "NO"), mb, s }'
