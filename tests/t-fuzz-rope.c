/* t-fuzz-rope.c: the fuzz target for LongRoPE factor files and rope-search state files as a
 * short CI run: its seed corpus (tests/fuzz/rope-corpus) and seeded mutations of every seed. */
#include "config.h"

#define MUTATIONS 3000
#define MIN_SEEDS 5

#include "tests/fuzz/fuzz-rope.c"
#include "tests/fuzz/replay.h"

int main(void)
{
	return replay_corpus("rope", MUTATIONS, MIN_SEEDS);
}
