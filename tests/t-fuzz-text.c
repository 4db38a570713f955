/* t-fuzz-text.c: the fuzz target for encoding detection and NFC normalisation as a short CI
 * run: its seed corpus (tests/fuzz/text-corpus) and seeded mutations of every seed. */
#include "config.h"

#define MUTATIONS 2000
#define MIN_SEEDS 4

#include "tests/fuzz/fuzz-text.c"
#include "tests/fuzz/replay.h"

int main(void)
{
	return replay_corpus("text", MUTATIONS, MIN_SEEDS);
}
