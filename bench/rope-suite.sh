#!/bin/sh
# rope-suite.sh: issue 6's RoPE benchmarks for one target length in one resumable run:
#   1. quire rope-search for TARGET on a calibration text (LongRoPE factors and n^; resumes
#      from its state file),
#   2. perplexity against length for none, yarn, longrope (those factors), ntk and linear at
#      scale TARGET / the model's original context (bench/rope-ppl.sh; finished points are
#      kept),
#   3. the passkey grid of each variant at LENGTHS x DEPTHS (bench/niah-grid.sh; a variant
#      whose page exists is not run again).
# By hand, never in CI: at TARGET 16384 on two cores it takes hours (docs/BENCHMARKS.md).
#
#   QUIRE=build/quire CALIB=calib.txt TEXT=book.txt TARGET=16384 sh bench/rope-suite.sh
#
# Environment (defaults in brackets):
#   QUIRE     quire binary [./quire]          MODEL    GGUF model [the default model]
#   CALIB     text the search scores (at least TARGET tokens)
#   TEXT      text the perplexity table scores (at least the largest of PPL_LENGTHS tokens)
#   TARGET    length the factors are searched for and the scale aims at [16384]
#   POP, GENS population and generations of the search [8, 4]
#   PPL_LENGTHS  [2048 4096 8192 16384 32768]
#   LENGTHS, DEPTHS  passkey grid [4096,8192,16384; 10]
#   VARIANTS  [none yarn longrope ntk linear]
#   THREADS   [2]                              OUT      output folder [docs/bench/rope-TARGET]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
QUIRE=${QUIRE:-./quire}
MODEL_OPT=${MODEL:+-m $MODEL}
CALIB=${CALIB:?CALIB must name a calibration text}
TEXT=${TEXT:?TEXT must name a long plain-text book}
TARGET=${TARGET:-16384}
POP=${POP:-8}
GENS=${GENS:-4}
PPL_LENGTHS=${PPL_LENGTHS:-"2048 4096 8192 16384 32768"}
LENGTHS=${LENGTHS:-4096,8192,16384}
DEPTHS=${DEPTHS:-10}
VARIANTS=${VARIANTS:-"none yarn longrope ntk linear"}
THREADS=${THREADS:-2}
OUT=${OUT:-$src/docs/bench/rope-$TARGET}
mkdir -p "$OUT"
QUIRE=$(cd "$(dirname "$QUIRE")" && pwd)/$(basename "$QUIRE")
log() { echo "rope-suite: $(date -u +%FT%TZ) $*" | tee -a "$OUT/suite.log"; }

# shellcheck disable=SC2086
orig=$("$QUIRE" $MODEL_OPT info | sed -n 's/^model.context_train: //p')
[ -n "$orig" ] || { echo "rope-suite: cannot read model.context_train" >&2; exit 1; }
scale=$(awk -v a="$TARGET" -v b="$orig" 'BEGIN { print a / b }')
factors=$OUT/factors.txt

log "search: target $TARGET, population $POP, generations $GENS"
resume=
[ -f "$factors.state" ] && resume=--resume
t0=$(date +%s)
# shellcheck disable=SC2086
"$QUIRE" $MODEL_OPT -q -t "$THREADS" rope-search "$CALIB" --target "$TARGET" \
	--population "$POP" --generations "$GENS" --out "$factors" $resume > "$OUT/search.out"
log "search done in $(( $(date +%s) - t0 )) s: $(tail -n 1 "$OUT/search.out")"

log "perplexity table"
QUIRE=$QUIRE TEXT=$TEXT LENGTHS=$PPL_LENGTHS METHODS=$VARIANTS SCALE=$scale FACTORS=$factors \
	THREADS=$THREADS OUT=$OUT/ppl sh "$src/bench/rope-ppl.sh" > /dev/null

bindir=$(dirname "$QUIRE")
[ "$(basename "$QUIRE")" = quire ] || { echo "rope-suite: the binary must be named quire" \
	"for niah-grid.sh" >&2; exit 1; }
for v in $VARIANTS; do
	[ -f "$OUT/passkey-$v.md" ] && continue
	case $v in
	none) r="--rope-scaling none" ;;
	yarn) r="--rope-scaling yarn --rope-scale $scale --rope-orig-ctx $orig" ;;
	longrope) r="--longrope-factors $factors --rope-scale $scale --rope-orig-ctx $orig" ;;
	ntk|linear) r="--rope-scaling $v --rope-scale $scale" ;;
	*) echo "rope-suite: unknown variant $v" >&2; exit 2 ;;
	esac
	log "passkey $v"
	t0=$(date +%s)
	sh "$src/bench/niah-grid.sh" -b "$bindir" ${MODEL:+-m "$MODEL"} -t "$THREADS" \
		-l "$LENGTHS" -d "$DEPTHS" -s 42 -o "$OUT" -n "passkey-$v" -r "$r" > /dev/null
	log "passkey $v: $(sed -n 's/^accuracy: //p' "$OUT/passkey-$v.md") in $(( $(date +%s) - t0 )) s"
done
log "done"
