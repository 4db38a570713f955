#!/bin/sh
# niah-grid.sh: the passkey grid of a model (lengths x evenly spaced depths, as UltraLong's
# evaluation, arXiv 2504.06214, lays it out): `quire niah` at LENGTHS x DEPTHS,
# written up as a Markdown page with the depth x length table, a CSV (one row per run) and a
# heat map (gnuplot).
#
#   bench/niah-grid.sh [-b BUILD] [-m MODEL] [-t THREADS] [-l LENGTHS] [-d DEPTHS] [-s SEED]
#                      [-o OUTDIR] [-r 'ROPE OPTIONS'] [-n NAME]
#
# Defaults: the build in the current directory, the default model, 2 threads, lengths
# 1024,2048,4096,6144,8192, 10 depths, seed 42, OUTDIR docs/bench/ of the source tree, no RoPE
# options (the model's own), NAME bench-niah-grid; writes NAME.md, NAME.csv and NAME.png there.
# -r passes RoPE options to quire, e.g. -r '--rope-scaling yarn --rope-scale 2'.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=.
model=${QUIRE_TEST_MODEL:-$HOME/.local/share/quire/models/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=2
lengths=1024,2048,4096,6144,8192
depths=10
seed=42
outdir=$src/docs/bench
rope=
name=bench-niah-grid
while getopts b:m:t:l:d:s:o:r:n: opt; do
	case $opt in
	b) build=$OPTARG ;;
	m) model=$OPTARG ;;
	t) threads=$OPTARG ;;
	l) lengths=$OPTARG ;;
	d) depths=$OPTARG ;;
	s) seed=$OPTARG ;;
	o) outdir=$OPTARG ;;
	r) rope=$OPTARG ;;
	n) name=$OPTARG ;;
	*) sed -n '2,13p' "$0" >&2; exit 2 ;;
	esac
done
quire=$(cd "$build" && pwd)/quire
[ -x "$quire" ] || { echo "niah-grid: no quire binary in $build (-b BUILD)" >&2; exit 1; }
command -v gnuplot >/dev/null 2>&1 ||
	{ echo "niah-grid: gnuplot is missing (apt-get install -y gnuplot-nox)" >&2; exit 1; }
mkdir -p "$outdir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/niah-grid.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
# shellcheck disable=SC2086 # $rope is a list of options
"$quire" -q -m "$model" -t "$threads" $rope niah --lengths "$lengths" --depths "$depths" \
	--seed "$seed" --csv "$outdir/$name.csv" --png "$outdir/$name.png" > "$tmp/out"
t1=$(date +%s)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
	echo "# Passkey grid: $(basename "$model")${rope:+ ($rope)}"
	echo
	echo "Command: \`quire -m $(basename "$model") -t $threads${rope:+ $rope} niah --lengths $lengths --depths $depths --seed $seed\`"
	echo "(\`bench/niah-grid.sh\`). Passkey template of landmark-attention, YaRN and LongRoPE"
	echo "(\`tui/eval-niah.h\`), 6-digit keys, repeated garbage"
	echo "sentences as filler, raw prompt, greedy, 10 new tokens; a cell is 1 when the first"
	echo "number of the answer is the key."
	echo
	echo "Machine: $cpu, $(nproc) CPUs online, $threads threads. Wall time: $((t1 - t0)) s."
	echo "Load average (1/5/15 min) at the start: $load0, at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo '```'
	sed -n '/^depth \\ length/,$p' "$tmp/out"
	echo '```'
	echo
	echo "Rows are depths (the share of filler before the needle), columns prompt lengths in"
	echo "tokens. Every run (seed, key, needle token offset, prompt tokens, answer) is in"
	echo "[$name.csv]($name.csv)."
	echo
	echo "![passkey grid]($name.png)"
} > "$outdir/$name.md"
cat "$outdir/$name.md"
