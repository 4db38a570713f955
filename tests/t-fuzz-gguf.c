/* t-fuzz-gguf.c: the GGUF fuzz target as a short CI run: every seed of tests/fuzz/gguf-corpus,
 * then seeded mutations of the valid seeds (byte flips, overwrites with boundary values,
 * truncations), each of which must open or fail cleanly (the target aborts on any
 * inconsistency; ASan builds catch overreads). Long runs use libFuzzer by hand. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz-gguf.c"
#include "engine/sample.h"
#include "tests/tap.h"

#define MUTATIONS_PER_SEED 3000

static void mutate(uint8_t *buf, size_t *len, uint64_t *rng)
{
	static const uint8_t boundary[] = { 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff };
	int edits = 1 + (int)(splitmix64(rng) % 4);
	for (int e = 0; e < edits && *len > 0; e++) {
		size_t at = splitmix64(rng) % *len;
		switch (splitmix64(rng) % 4) {
		case 0: buf[at] ^= (uint8_t)(1u << (splitmix64(rng) % 8)); break;
		case 1: buf[at] = boundary[splitmix64(rng) % sizeof(boundary)]; break;
		case 2: /* a little-endian 32-bit boundary value, as counts and lengths are */
			for (size_t i = 0; i < 4 && at + i < *len; i++)
				buf[at + i] = (splitmix64(rng) & 1) ? 0xff : 0x00;
			break;
		default: *len = at; break;
		}
	}
}

int main(void)
{
	const char *srcdir = getenv("srcdir") ? getenv("srcdir") : ".";
	char *dir = xasprintf("%s/tests/fuzz/gguf-corpus", srcdir);
	DIR *d = opendir(dir);
	if (d == NULL)
		return skip_all("no fuzz corpus (srcdir not set?)");
	struct dirent *de;
	int seeds = 0;
	uint64_t rng = 20261121;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name), *data, *err = NULL;
		size_t len;
		if (file_read_all(path, 1u << 20, &data, &len, &err) != 0) {
			ok(0, "read %s: %s", de->d_name, err);
			free(err);
			free(path);
			continue;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		seeds++;
		if (strncmp(de->d_name, "bad-", 4) != 0) {
			uint8_t *m = xmalloc(len ? len : 1);
			for (int i = 0; i < MUTATIONS_PER_SEED; i++) {
				size_t mlen = len;
				memcpy(m, data, len);
				mutate(m, &mlen, &rng);
				LLVMFuzzerTestOneInput(m, mlen);
			}
			free(m);
			ok(1, "%s and %d mutations of it open or fail cleanly", de->d_name,
			    MUTATIONS_PER_SEED);
		} else {
			ok(1, "%s fails cleanly", de->d_name);
		}
		free(data);
		free(path);
	}
	closedir(d);
	free(dir);
	ok(seeds >= 6, "ran the corpus (%d seeds)", seeds);
	done_testing();
	return exit_status();
}
