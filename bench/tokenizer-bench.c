/* tokenizer-bench.c: tokenizer throughput (MB/s) on a text file with the model's vocabulary,
 * the figure to set against bench/tokenizer-bench-llamacpp.py on the same file.
 *   tokenizer-bench MODEL.gguf FILE [ROUNDS]
 * Each round tokenizes the whole file in one call (byte offsets on, as ingest asks for them),
 * on a fresh tokenizer for the first round (cold word cache) and the same one after. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "lib/file.h"
#include "lib/util.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s MODEL.gguf FILE [ROUNDS]\n", argv[0]);
		return 2;
	}
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	char *err = NULL, *data;
	size_t len;
	struct gguf_file *f;
	struct tokenizer *tok;
	if (gguf_open(argv[1], &f, &err) < 0 || tokenizer_from_gguf(f, &tok, &err) < 0 ||
	    file_read_all(argv[2], (size_t)1 << 31, &data, &len, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	gguf_close(f);
	for (int r = 0; r < rounds; r++) {
		int32_t *ids;
		size_t n, *offs;
		double t0 = q_now();
		if (tokenizer_encode(tok, data, len, 0, &ids, &n, &offs, &err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		double dt = q_now() - t0;
		printf("round %d: %zu bytes -> %zu tokens in %.3f s = %.2f MB/s%s\n", r + 1, len, n,
		    dt, (double)len / dt / 1e6, r == 0 ? " (cold cache)" : "");
		free(ids);
		free(offs);
	}
	tokenizer_free(tok);
	free(data);
	return 0;
}
