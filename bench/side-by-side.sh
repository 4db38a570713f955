#!/bin/sh
# side-by-side.sh: quire and llama.cpp (llama-cpp-python, the pinned reference venv) on the same
# GGUF and the same threads in one run: prompt (512) and generation (128) speed at depths 0,
# 4096 and 16384, and tokenizer throughput; writes a Markdown report and two PNG plots.
#
#   bench/side-by-side.sh [-b BUILD] [-m MODEL] [-t THREADS] [-r REPS] [-T TEXT] [-o OUTDIR]
#
# BUILD is a configured and built quire tree (default: the current directory); OUTDIR gets
# bench-side-by-side.md, bench-side-by-side-pp.png and bench-side-by-side-tg.png (default
# docs/bench/ of the source tree). Needs gnuplot (apt-get install -y gnuplot-nox) and
# /opt/quire-ref. DEPTHS and REF_PY may be set in the environment; LLAMA_FA=1 also runs
# llama.cpp with flash attention (faster at depth on the CPU) and compares quire with the
# faster of the two.
# KV=q8_0 gives both engines q8_0 keys and values (quire --kv-type q8_0); llama.cpp then runs
# with flash attention only, which its quantized V cache needs. QUIRE_KV=q8_0 gives quire alone
# a q8_0 cache, against llama.cpp's KV (to set quire's fastest against llama.cpp's fastest).
# ROUNDS=N (default 1) runs both engines' whole series N times, one after the other, and keeps
# each engine's best round per test: on a shared machine whose speed drifts for minutes at a
# time, a slow period then costs both engines alike.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=.
model=${QUIRE_TEST_MODEL:-$HOME/.local/share/quire/models/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=2
reps=3
text=
outdir=$src/docs/bench
while getopts b:m:t:r:T:o: opt; do
	case $opt in
	b) build=$OPTARG ;;
	m) model=$OPTARG ;;
	t) threads=$OPTARG ;;
	r) reps=$OPTARG ;;
	T) text=$OPTARG ;;
	o) outdir=$OPTARG ;;
	*) sed -n '2,13p' "$0" >&2; exit 2 ;;
	esac
done
DEPTHS=${DEPTHS:-"0 4096 16384"}
ROUNDS=${ROUNDS:-1}
case $ROUNDS in ''|*[!0-9]*|0) echo "side-by-side: ROUNDS=$ROUNDS (a count)" >&2; exit 2 ;; esac
KV=${KV:-f16}
case $KV in f16|q8_0) ;; *) echo "side-by-side: KV=$KV (f16 or q8_0)" >&2; exit 2 ;; esac
export KV
QUIRE_KV=${QUIRE_KV:-$KV}
case $QUIRE_KV in f16|q8_0) ;; *) echo "side-by-side: QUIRE_KV=$QUIRE_KV (f16 or q8_0)" >&2; exit 2 ;; esac
REF_PY=${REF_PY:-/opt/quire-ref/bin/python}
build=$(cd "$build" && pwd)
quire=$build/quire
[ -x "$quire" ] || { echo "side-by-side: no quire binary in $build (-b BUILD)" >&2; exit 1; }
[ -f "$model" ] || { echo "side-by-side: no model $model (-m MODEL)" >&2; exit 1; }
[ -x "$REF_PY" ] || { echo "side-by-side: no $REF_PY (tests/ref/setup-llama-cpp.sh)" >&2; exit 1; }
command -v gnuplot >/dev/null 2>&1 ||
	{ echo "side-by-side: gnuplot is missing (apt-get install -y gnuplot-nox)" >&2; exit 1; }
if [ -z "$text" ]; then
	# A real text of a few MB: the KJV when the corpora are built, else the licences.
	for f in /tmp/store/corpora/text/kjv.txt "${CORPORA:-/nonexistent}/text/kjv.txt"; do
		[ -f "$f" ] && text=$f && break
	done
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/side-by-side.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -z "$text" ]; then
	cat /usr/share/common-licenses/* > "$tmp/text.txt"
	text=$tmp/text.txt
fi
mkdir -p "$outdir"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
# ---- speed: quire bench and the llama.cpp script print the same kind of rows
: > "$tmp/all-rows"
round=1
while [ "$round" -le "$ROUNDS" ]; do
	echo "side-by-side: round $round of $ROUNDS: quire bench ($threads threads, depths $DEPTHS)" >&2
	for d in $DEPTHS; do
		"$quire" -q -m "$model" -t "$threads" --kv-type "$QUIRE_KV" bench --n-prompt 512 --n-gen 128 --depth "$d" \
			--reps "$reps" | grep '^| ' | grep -v '^| model' | grep -v '^| ---' |
			awk -F' [|] ' '{ printf "| quire | %s | %s | %s\n", $5, $6, $7 }' >> "$tmp/all-rows"
	done
	if [ "$KV" = f16 ]; then
		echo "side-by-side: round $round: llama.cpp" >&2
		"$REF_PY" "$src/bench/side-by-side-llamacpp.py" "$model" "$threads" 512 128 "$reps" \
			$DEPTHS >> "$tmp/all-rows"
	fi
	if [ "${LLAMA_FA:-0}" = 1 ] || [ "$KV" = q8_0 ]; then
		echo "side-by-side: round $round: llama.cpp with flash attention" >&2
		FLASH=1 "$REF_PY" "$src/bench/side-by-side-llamacpp.py" "$model" "$threads" 512 128 "$reps" \
			$DEPTHS >> "$tmp/all-rows"
	fi
	round=$((round + 1))
done
# each engine's best round per test (the highest mean), in the order first seen
awk -F' [|] ' '{ k = $1 " | " $3; v = $4 + 0
	if (!(k in best)) { order[++n] = k; best[k] = -1 }
	if (v > best[k]) { best[k] = v; row[k] = $0 } }
	END { for (i = 1; i <= n; i++) print row[order[i]] }' "$tmp/all-rows" > "$tmp/rows"
cp "$tmp/all-rows" "$outdir/bench-side-by-side.rows"

# ---- tokenizer throughput: bench/tokenizer-bench.c against llama.cpp's tokenizer
echo "side-by-side: tokenizers on $text" >&2
cc -std=c11 -D_GNU_SOURCE -O2 -I"$src" -I"$build" -o "$tmp/tokenizer-bench" \
	"$src/bench/tokenizer-bench.c" "$build/engine/libqengine.a" "$build/kernels/libqkernels.a" \
	"$build/lib/libqlib.a" $(pkg-config --libs libpcre2-8) -lm -lpthread
"$tmp/tokenizer-bench" "$model" "$text" 3 > "$tmp/tok-quire"
"$REF_PY" "$src/bench/tokenizer-bench-llamacpp.py" "$model" "$text" 3 > "$tmp/tok-llama"
# The best of the warm rounds (2 and 3), in MB/s, and the token counts.
tok_rate() { awk '/^round [23]:/ { v = $(NF-1) + 0; if (v > best) best = v } END { printf "%.2f", best }' "$1"; }
tok_count() { awk '/^round 1:/ { print $6; exit }' "$1"; }

# ---- report
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
simd=
for f in avx2 avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_tile; do
	case " $flags " in *" $f "*) simd="$simd $f" ;; esac
done
md=$outdir/bench-side-by-side.md
{
	echo "# quire and llama.cpp side by side"
	echo
	echo "Machine: $cpu, $(nproc) CPUs online, $threads threads; SIMD:$simd."
	echo "Model: $(basename "$model"). llama.cpp: llama-cpp-python $("$REF_PY" -c 'import llama_cpp; print(llama_cpp.__version__)'), built by tests/ref/setup-llama-cpp.sh (native, AMX off), n_batch 512, without flash attention (and with it where the FA column is filled). KV cache: quire $QUIRE_KV, llama.cpp $KV."
	echo "Load average (1/5/15 min) at the start: $load0, at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared with other work; under load the figures are lower and noisier)."
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Command: \`bench/side-by-side.sh -t $threads -r $reps\` (DEPTHS=\"$DEPTHS\" KV=$KV QUIRE_KV=$QUIRE_KV LLAMA_FA=${LLAMA_FA:-0} ROUNDS=$ROUNDS)."
	echo
	echo "Tokens per second, mean ± standard deviation of $reps repetitions; random tokens; the"
	echo "context is first filled to the depth (untimed); generation is single-token forward passes."
	if [ "$ROUNDS" -gt 1 ]; then
		echo "Each engine's best of $ROUNDS rounds, run one after the other (every round is in"
		echo "bench-side-by-side.rows)."
	fi
	echo
	echo "| test | quire t/s | llama.cpp t/s | llama.cpp FA t/s | quire / faster llama.cpp |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	for d in $DEPTHS; do
		for t in "pp512 @ d$d" "tg128 @ d$d"; do
			q=$(awk -F' [|] ' -v t="$t" '$1 == "| quire" && $3 == t { print $4 }' "$tmp/rows" | sed 's/ |$//')
			l=$(awk -F' [|] ' -v t="$t" '$1 == "| llama.cpp" && $3 == t { print $4 }' "$tmp/rows" | sed 's/ |$//')
			f=$(awk -F' [|] ' -v t="$t" '$1 == "| llama.cpp FA" && $3 == t { print $4 }' "$tmp/rows" | sed 's/ |$//')
			r=$(awk -v a="${q%% *}" -v b="${l%% *}" -v c="${f%% *}" 'BEGIN {
				if (c + 0 > b + 0) b = c; if (b > 0) printf "%.2f", a / b; else print "-" }')
			echo "| $t | $q | $l | ${f:--} | $r |"
		done
	done
	echo
	echo "Tokenizer throughput on $(basename "$text") ($(wc -c < "$text") bytes; best warm round of 3, whole file in one call):"
	echo
	echo "| tokenizer | tokens | MB/s |"
	echo "| --- | ---: | ---: |"
	echo "| quire (bench/tokenizer-bench.c, byte offsets on) | $(tok_count "$tmp/tok-quire") | $(tok_rate "$tmp/tok-quire") |"
	echo "| llama.cpp (llama_tokenize via llama-cpp-python) | $(tok_count "$tmp/tok-llama") | $(tok_rate "$tmp/tok-llama") |"
	echo
	echo "![prompt speed](bench-side-by-side-pp.png) ![generation speed](bench-side-by-side-tg.png)"
} > "$md"

# ---- plots: t/s against depth, one line per engine
for kind in pp tg; do
	for eng in quire llama.cpp; do
		awk -F' [|] ' -v e="$eng" -v k="$kind" '$1 == "| " e && index($3, k) == 1 {
			split($3, a, " @ d"); split($4, v, " ± "); print a[2] + 0, v[1] + 0, v[2] + 0 }' \
			"$tmp/rows" > "$tmp/$kind-$eng.dat"
	done
	title=$([ $kind = pp ] && echo "prompt processing (512 tokens)" || echo "generation (128 tokens)")
	gnuplot <<EOF
set terminal pngcairo size 800,500
set output '$outdir/bench-side-by-side-$kind.png'
set title "$title, $threads threads"
set xlabel "context depth (tokens)"
set ylabel "tokens/s"
set yrange [0:*]
set key top right
set grid
plot '$tmp/$kind-quire.dat' using 1:2:3 with yerrorlines lw 2 title 'quire', \
     '$tmp/$kind-llama.cpp.dat' using 1:2:3 with yerrorlines lw 2 title 'llama.cpp'
EOF
done
cat "$md"
