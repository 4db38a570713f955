/* kv-stream.c: the floor under decode attention at depth: the bytes of a q8_0 KV memory in
 * SmolLM2-135M's shape (30 layers, 3 KV heads of 64; int8 keys and values, one KV head after
 * the other as the CPU backend keeps them) read in the decode kernel's order, 512-key parts
 * taken in turn by THREADS threads, each part head by head, with no arithmetic beyond one
 * add per 64 bytes. Prints the time per token and the read speed, to set against
 * bench/decode-bench (the kernel itself) and bench/membw (one long sequential read).
 *
 *   make bench/kv-stream && bench/kv-stream [DEPTH [THREADS [REPS]]]
 * Defaults: depth 16384, 2 threads, 10 tokens. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LAYERS 30
#define N_KV 3
#define HD 64
#define PART 512

struct worker {
	int8_t **k, **v;
	size_t depth;
	int ti, nt;
	uint64_t sum;
};

static void *read_parts(void *arg)
{
	struct worker *w = arg;
	uint64_t acc = 0;
	size_t n_parts = (w->depth + PART - 1) / PART;
	for (int l = 0; l < LAYERS; l++)
		for (size_t p = (size_t)w->ti; p < n_parts; p += (size_t)w->nt)
			for (size_t g = 0; g < N_KV; g++) {
				size_t j1 = (p + 1) * PART < w->depth ? (p + 1) * PART : w->depth;
				const uint64_t *k = (const uint64_t *)(const void *)(w->k[l] +
				    (g * w->depth + p * PART) * HD);
				const uint64_t *v = (const uint64_t *)(const void *)(w->v[l] +
				    (g * w->depth + p * PART) * HD);
				/* one 8-byte word of each 64-byte line: the whole line is read */
				for (size_t i = 0; i < (j1 - p * PART) * HD / 8; i += 8)
					acc += k[i] + v[i];
			}
	w->sum = acc;
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long depth = argc > 1 ? strtol(argv[1], NULL, 10) : 16384;
	long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
	long reps = argc > 3 ? strtol(argv[3], NULL, 10) : 10;
	if (depth < 1 || depth > (1L << 22) || threads < 1 || threads > 64 || reps < 1) {
		fprintf(stderr, "usage: kv-stream [DEPTH [THREADS [REPS]]]\n");
		return 2;
	}
	size_t bytes = (size_t)depth * N_KV * HD;
	int8_t *k[LAYERS], *v[LAYERS];
	for (int l = 0; l < LAYERS; l++) {
		k[l] = aligned_alloc(1 << 21, (bytes + (1 << 21) - 1) & ~(size_t)((1 << 21) - 1));
		v[l] = aligned_alloc(1 << 21, (bytes + (1 << 21) - 1) & ~(size_t)((1 << 21) - 1));
		if (k[l] == NULL || v[l] == NULL) {
			fprintf(stderr, "kv-stream: out of memory\n");
			return 1;
		}
		memset(k[l], 1, bytes);
		memset(v[l], 2, bytes);
	}
	struct worker w[64];
	pthread_t tid[64];
	double best = 1e30;
	uint64_t check = 0;
	for (long r = 0; r < reps; r++) {
		double t0 = now();
		for (long t = 0; t < threads; t++) {
			w[t] = (struct worker){ k, v, (size_t)depth, (int)t, (int)threads, 0 };
			pthread_create(&tid[t], NULL, read_parts, &w[t]);
		}
		for (long t = 0; t < threads; t++) {
			pthread_join(tid[t], NULL);
			check += w[t].sum;
		}
		double dt = now() - t0;
		best = dt < best ? dt : best;
	}
	double total = 2.0 * (double)bytes * LAYERS;
	printf("depth %ld, %d layers, %ld threads: best %.2f ms per token, %.0f MB at %.1f GB/s "
	    "(checksum %llu)\n", depth, LAYERS, threads, best * 1e3, total / 1e6,
	    total / best / 1e9, (unsigned long long)check);
	return 0;
}
