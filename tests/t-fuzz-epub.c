/* t-fuzz-epub.c: the fuzz target for EPUB reading (container.xml, OPF, NCX, nav) as a short
 * CI run: its seed corpus (tests/fuzz/epub-corpus) and seeded mutations of every seed. */
#include "config.h"

#define MUTATIONS 2000
#define MIN_SEEDS 3

#include "tests/fuzz/fuzz-epub.c"
#include "tests/fuzz/replay.h"

int main(void)
{
	return replay_corpus("epub", MUTATIONS, MIN_SEEDS);
}
