/* t-fuzz-sections.c: the fuzz target for section detection as a short CI run: its seed corpus
 * (tests/fuzz/sections-corpus) and seeded mutations of every seed. */
#include "config.h"

#define MUTATIONS 2000
#define MIN_SEEDS 4

#include "tests/fuzz/fuzz-sections.c"
#include "tests/fuzz/replay.h"

int main(void)
{
	return replay_corpus("sections", MUTATIONS, MIN_SEEDS);
}
