/* t-fuzz-kv-file.c: the KV cache file's fuzz target as a short CI run: its seed corpus
 * (tests/fuzz/kv-file-corpus, written by tests/t-kv-file --write-corpus) and seeded mutations
 * of every seed, each run as it is and resealed. */
#include "config.h"

#define MUTATIONS 1500
#define MIN_SEEDS 6

#include "tests/fuzz/fuzz-kv-file.c"
#include "lib/file.h"
#include "tests/fuzz/replay.h"

int main(void)
{
	return replay_corpus("kv-file", MUTATIONS, MIN_SEEDS);
}
