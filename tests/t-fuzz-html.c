/* t-fuzz-html.c: the fuzz target for the HTML extractor as a short CI run: its seed corpus
 * (tests/fuzz/html-corpus) and seeded mutations of every seed. */
#include "config.h"

#define MUTATIONS 2000
#define MIN_SEEDS 4

#include "tests/fuzz/fuzz-html.c"
#include "tests/fuzz/replay.h"

int main(void)
{
	return replay_corpus("html", MUTATIONS, MIN_SEEDS);
}
