#!/bin/sh
# rope-ppl.sh: perplexity against context length for each RoPE scaling (`quire perplexity`:
# LongRoPE's sliding windows with stride S = L, so windows do not overlap), as CSV
# `method,L,ppl` and a gnuplot PNG. By hand, not CI: each point runs the model over the whole
# text (minutes at 16K on two cores).
#
#   QUIRE=./quire MODEL=model.gguf TEXT=book.txt sh bench/rope-ppl.sh
#
# Environment (defaults in brackets):
#   QUIRE      the quire binary [./quire]
#   MODEL      GGUF model [the default model]
#   TEXT       a long plain-text book; every full window of L tokens in it is scored, so cut
#              it to the token budget you can afford (e.g. the first ~20K tokens of Emma)
#   LENGTHS    context lengths [2048 4096 8192 16384]
#   METHODS    none linear ntk yarn longrope [all five]
#   SCALE      scale factor for the scaled methods [target length / original context, from
#              the largest length and the model's context_train as `quire info` reports it]
#   FACTORS    factor file from `quire rope-search` for longrope (skipped when unset)
#   THREADS    -t [2]
#   OUT        output prefix [docs/bench/rope-ppl]: OUT.csv, OUT.png, OUT.log
# Points already in OUT.csv are not run again, so an interrupted run continues.
set -eu
QUIRE=${QUIRE:-./quire}
MODEL_OPT=${MODEL:+-m $MODEL}
TEXT=${TEXT:?TEXT must name a long plain-text file}
LENGTHS=${LENGTHS:-"2048 4096 8192 16384"}
METHODS=${METHODS:-"none linear ntk yarn longrope"}
THREADS=${THREADS:-2}
OUT=${OUT:-docs/bench/rope-ppl}

# shellcheck disable=SC2086
orig=$("$QUIRE" $MODEL_OPT info | sed -n 's/^model.context_train: //p')
[ -n "$orig" ] || { echo "rope-ppl: cannot read model.context_train from quire info" >&2; exit 1; }
max_l=0
for l in $LENGTHS; do [ "$l" -gt "$max_l" ] && max_l=$l; done
SCALE=${SCALE:-$(awk -v a="$max_l" -v b="$orig" 'BEGIN { s = a / b; if (s < 1) s = 1; print s }')}

[ -f "$OUT.csv" ] || echo "method,L,ppl" > "$OUT.csv"
echo "# $(date -u +%FT%TZ) orig_ctx=$orig scale=$SCALE text=$TEXT" >> "$OUT.log"
for method in $METHODS; do
	case $method in
	none) args="--rope-scaling none";;
	linear|ntk) args="--rope-scaling $method --rope-scale $SCALE";;
	yarn) args="--rope-scaling yarn --rope-scale $SCALE --rope-orig-ctx $orig";;
	longrope)
		if [ -z "${FACTORS:-}" ]; then
			echo "rope-ppl: no FACTORS file; longrope skipped" >&2
			continue
		fi
		args="--longrope-factors $FACTORS --rope-scale $SCALE --rope-orig-ctx $orig";;
	*) echo "rope-ppl: unknown method $method" >&2; exit 2;;
	esac
	for l in $LENGTHS; do
		grep -q "^$method,$l," "$OUT.csv" && continue
		t0=$(date +%s)
		# shellcheck disable=SC2086
		res=$("$QUIRE" $MODEL_OPT -q -t "$THREADS" $args perplexity "$TEXT" --ctx "$l" \
		    --stride "$l" 2>>"$OUT.log") || { echo "rope-ppl: $method $l failed" >&2; continue; }
		ppl=$(printf '%s\n' "$res" | sed -n 's/^ppl: //p')
		echo "$method $l: $(printf '%s\n' "$res" | head -n 1) ppl $ppl ($(( $(date +%s) - t0 )) s)" \
		    >> "$OUT.log"
		echo "$method,$l,$ppl" >> "$OUT.csv"
	done
done

if command -v gnuplot > /dev/null; then
	gnuplot <<EOF
set datafile separator ","
set terminal pngcairo size 800,500 noenhanced
set output "$OUT.png"
set title "Perplexity vs context length (mode A, S = L), trained window $orig, scale $SCALE"
set xlabel "context length L (tokens)"
set ylabel "perplexity"
set logscale x 2
set logscale y
set key top left
set grid
plot for [m in "$METHODS"] sprintf("< grep '^%s,' $OUT.csv", m) using 2:3 with linespoints title m
EOF
fi
cat "$OUT.csv"
