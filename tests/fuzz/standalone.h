/* standalone.h: the main() of a fuzz target built without libFuzzer (-DQUIRE_FUZZ_STANDALONE):
 * each file named on the command line goes through LLVMFuzzerTestOneInput once, so a corpus
 * or a crash file can be replayed under a debugger or the sanitizers. */
#ifndef QUIRE_TESTS_FUZZ_STANDALONE_H
#define QUIRE_TESTS_FUZZ_STANDALONE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs every file of argv[1..]; 0, or 1 if one could not be read (the target aborts on a
 * failed check itself). name prefixes the messages; max bounds a file's size. */
static inline int fuzz_standalone_run(int argc, char **argv, const char *name, size_t max)
{
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		char *data, *err = NULL;
		size_t len;
		if (file_read_all(argv[i], max, &data, &len, &err) != 0) {
			fprintf(stderr, "%s: %s\n", name, err);
			free(err);
			failed = 1;
			continue;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		free(data);
	}
	printf("%s: ran %d input%s\n", name, argc - 1, argc == 2 ? "" : "s");
	return failed;
}

#endif
