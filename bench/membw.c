/* membw.c: the machine's memory read bandwidth with N threads, the bound on decoding at depth
 * (each generated token reads the whole KV cache once). Each thread sums its share of a buffer
 * far larger than the last-level cache with 64-byte vector loads; the best of several passes
 * is reported.
 *
 *   make bench/membw && bench/membw [THREADS [MIB [PASSES]]]     (defaults: 2, 1024, 8) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct share {
	const uint64_t *p;
	size_t n;                      /* 64-bit words */
	pthread_barrier_t *start;
	uint64_t sum;                  /* kept so the loads are not optimised away */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *reader(void *arg)
{
	struct share *s = arg;
	pthread_barrier_wait(s->start);
	/* Eight independent sums per 64-byte line: the compiler vectorises this at -O2 -march
	 * or not; either way the loads dominate. */
	uint64_t a[8] = { 0 };
	for (size_t i = 0; i + 8 <= s->n; i += 8)
		for (int k = 0; k < 8; k++)
			a[k] += s->p[i + k];
	for (int k = 0; k < 8; k++)
		s->sum += a[k];
	pthread_barrier_wait(s->start);
	return NULL;
}

int main(int argc, char **argv)
{
	long threads = argc > 1 ? strtol(argv[1], NULL, 10) : 2;
	long mib = argc > 2 ? strtol(argv[2], NULL, 10) : 1024;
	long passes = argc > 3 ? strtol(argv[3], NULL, 10) : 8;
	if (threads < 1 || threads > 256 || mib < 64 || mib > (1L << 20) || passes < 1 ||
	    passes > 1000) {
		fprintf(stderr, "usage: membw [THREADS (1..256) [MIB (64..) [PASSES]]]\n");
		return 2;
	}
	size_t bytes = (size_t)mib << 20, words = bytes / sizeof(uint64_t);
	uint64_t *buf = aligned_alloc(4096, bytes);
	if (buf == NULL) {
		fprintf(stderr, "membw: cannot allocate %ld MiB\n", mib);
		return 1;
	}
	for (size_t i = 0; i < words; i++)     /* touch every page: no faults while timing */
		buf[i] = i;
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	struct share *sh = calloc((size_t)threads, sizeof *sh);
	pthread_t *tid = calloc((size_t)threads, sizeof *tid);
	if (sh == NULL || tid == NULL)
		return 1;
	size_t per = words / (size_t)threads / 8 * 8;
	double best = 0;
	uint64_t check = 0;
	for (long pass = 0; pass < passes; pass++) {
		for (long t = 0; t < threads; t++) {
			sh[t] = (struct share){ buf + (size_t)t * per, per, &start, 0 };
			pthread_create(&tid[t], NULL, reader, &sh[t]);
		}
		pthread_barrier_wait(&start);
		double t0 = now();
		pthread_barrier_wait(&start);
		double t1 = now();
		for (long t = 0; t < threads; t++) {
			pthread_join(tid[t], NULL);
			check += sh[t].sum;
		}
		double gbs = (double)(per * (size_t)threads * sizeof(uint64_t)) / (t1 - t0) / 1e9;
		best = gbs > best ? gbs : best;
	}
	printf("threads %ld, buffer %ld MiB, best of %ld passes: %.1f GB/s (checksum %llx)\n",
	    threads, mib, passes, best, (unsigned long long)(check & 0xffff));
	pthread_barrier_destroy(&start);
	free(sh);
	free(tid);
	free(buf);
	return 0;
}
