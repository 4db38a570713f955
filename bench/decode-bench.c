/* decode-bench.c: the split-K decode attention kernel (kernels/attn-decode.h) alone, in the
 * shape the engine runs it: one token's query heads against an fp16 KV memory of a given
 * depth, every layer, the keys cut into 512-key parts that THREADS threads take in turn, each
 * part running every KV group. Prints the time per token and the KV bytes read per second,
 * to set against bench/membw.
 *
 *   make bench/decode-bench && bench/decode-bench [DEPTH [THREADS [LAYERS [REPS]]]]
 * Defaults: depth 16384, 2 threads, 30 layers, 20 tokens; SmolLM2-135M's attention shape
 * (9 query heads, 3 KV heads of 64). QUIRE_SIMD picks the level as for quire. KV=q8_0 runs
 * the q8_0 kernel (kernels/attn-decode-q8.h) over keys and values in the CPU backend's q8_0
 * layout instead; KV=q8_0 TOUCH=1 only reads one word of every cache line the q8_0 kernel
 * reads, in its order (a tile's keys, their scales, its values): the floor of that kernel.
 * The memory is the backend's: 2 MiB aligned, huge pages advised. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kernels/attn-decode-q8.h"
#include "kernels/attn-decode.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "lib/threadpool.h"

#define N_HEAD 9
#define N_KV 3
#define HD 64
#define PART 512

struct job {
	const uint16_t *k, *v;         /* one layer: [pos][N_KV * HD] */
	const int8_t *kq, *vq;         /* q8_0: the same shape in int8 */
	const uint16_t *ks, *vs;       /* q8_0: scales [N_KV * HD / 32][n_keys] */
	size_t n_keys, n_parts;
	const float *q;                /* N_HEAD * HD */
	const struct attn_q8_query *qq; /* q8_0: the same rows, made once per token */
	float *o, *lse;                /* per part: N_HEAD * HD, N_HEAD */
	struct threadpool_runs runs;   /* the parts, dealt as the backend deals them */
	int touch;                     /* TOUCH=1: touch_q8 instead of the kernel */
};

struct worker {
	struct job *job;
	float *scratch;
	pthread_barrier_t *go, *done;
	int layers, reps;
	uint16_t *const *lk, *const *lv;
	int index;                     /* 0..threads-1 */
};

/* One word of every line of a KV head's keys [0, nk) that the q8_0 kernel reads, in its
 * order, tile by tile. */
static uint64_t touch_q8(const struct attn_q8_kv *kv, size_t nk)
{
	uint64_t acc = 0, w;
	for (size_t t = 0; t < nk; t += ATTN_DECODE_Q8_TILE) {
		size_t n = nk - t < ATTN_DECODE_Q8_TILE ? nk - t : ATTN_DECODE_Q8_TILE;
		for (size_t d = 0; d < n * HD; d += 64) {
			memcpy(&w, kv->k + t * HD + d, sizeof w);
			acc ^= w;
		}
		for (size_t b = 0; b < HD / 32; b++)
			for (size_t d = 0; d < n * 2; d += 64) {
				memcpy(&w, (const char *)(kv->ks + b * kv->s_stride + t) + d, sizeof w);
				acc ^= w;
				memcpy(&w, (const char *)(kv->vs + b * kv->s_stride + t) + d, sizeof w);
				acc ^= w;
			}
		for (size_t d = 0; d < n * HD; d += 64) {
			memcpy(&w, kv->v + t * HD + d, sizeof w);
			acc ^= w;
		}
	}
	return acc;
}

static void run_part(struct job *j, size_t part, float *scratch)
{
	const struct attn_decode_kernels *dk = attn_decode_active();
	size_t k0 = part * PART, nk = j->n_keys - k0 < PART ? j->n_keys - k0 : PART;
	for (size_t g = 0; g < N_KV; g++) {
		const float *qp[N_HEAD / N_KV];
		float *op[N_HEAD / N_KV];
		uint32_t lim[N_HEAD / N_KV];
		for (size_t h = 0; h < N_HEAD / N_KV; h++) {
			size_t r = g * (N_HEAD / N_KV) + h;
			qp[h] = j->q + r * HD;
			op[h] = j->o + (part * N_HEAD + r) * HD;
			lim[h] = (uint32_t)nk;
		}
		size_t base = k0 * N_KV * HD + g * HD;
		if (j->kq != NULL) {
			/* the backend's layout: one KV head after the other, the keys in groups */
			size_t sb = g * HD / 32 * j->n_keys + k0, hb = (g * j->n_keys + k0) * HD;
			struct attn_q8_kv kv = { j->kq + hb, j->vq + hb, j->ks + sb, j->vs + sb, HD,
			    j->n_keys };
			if (j->touch) {
				j->o[(part * N_HEAD + g) * HD] = (float)(touch_q8(&kv, nk) & 0xff);
				continue;
			}
			const struct attn_q8_query *qq[N_HEAD / N_KV];
			for (size_t h = 0; h < N_HEAD / N_KV; h++)
				qq[h] = j->qq + g * (N_HEAD / N_KV) + h;
			attn_decode_q8_active()->run(qq, lim, N_HEAD / N_KV, &kv, nk, HD, op,
			    j->lse + part * N_HEAD + g * (N_HEAD / N_KV), scratch);
			continue;
		}
		dk->run(qp, lim, N_HEAD / N_KV, j->k + base, j->v + base, N_KV * HD, nk, HD,
		    0.125f, op, j->lse + part * N_HEAD + g * (N_HEAD / N_KV), scratch);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		pthread_barrier_wait(w->go);
		struct job *j = w->job;
		if (j->n_parts == 0)
			return NULL;
		unsigned cursor = 0;
		for (long p; (p = threadpool_runs_take(&j->runs, w->index, &cursor)) >= 0;)
			run_part(j, (size_t)p, w->scratch);
		pthread_barrier_wait(w->done);
	}
}

/* As the CPU backend's KV memory: 2 MiB aligned, huge pages advised. */
static void *kv_mem(size_t bytes)
{
	void *p = NULL;
	bytes = (bytes + ((size_t)1 << 21) - 1) & ~(((size_t)1 << 21) - 1);
	if (posix_memalign(&p, (size_t)1 << 21, bytes) != 0) {
		fprintf(stderr, "decode-bench: out of memory\n");
		exit(1);
	}
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
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
	long layers = argc > 3 ? strtol(argv[3], NULL, 10) : 30;
	long reps = argc > 4 ? strtol(argv[4], NULL, 10) : 20;
	if (getenv("KV") != NULL && depth % 16 != 0) {
		fprintf(stderr, "decode-bench: KV=q8_0 takes a depth that is a multiple of 16\n");
		return 2;
	}
	if (depth < 1 || depth > (1L << 22) || threads < 1 || threads > 64 || layers < 1 ||
	    layers > 200 || reps < 1) {
		fprintf(stderr, "usage: decode-bench [DEPTH [THREADS [LAYERS [REPS]]]]\n");
		return 2;
	}
	char *err = NULL;
	if (cpu_simd_init(&err) != 0) {
		fprintf(stderr, "decode-bench: %s\n", err);
		return 1;
	}
	size_t row = N_KV * HD, per = (size_t)depth * row;
	int q8 = getenv("KV") != NULL && strcmp(getenv("KV"), "q8_0") == 0;
	uint16_t **lk = calloc((size_t)layers, sizeof *lk), **lv = calloc((size_t)layers, sizeof *lv);
	int8_t **lkq = calloc((size_t)layers, sizeof *lkq), **lvq = calloc((size_t)layers,
	    sizeof *lvq);
	uint64_t x = 1;
	for (long l = 0; l < layers; l++) {
		lk[l] = kv_mem(per * 2);
		lv[l] = kv_mem(per * 2);
		for (size_t i = 0; i < per; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			lk[l][i] = quant_f32_to_fp16((float)((x >> 40) & 0xffff) / 65536.0f - 0.5f);
			lv[l][i] = quant_f32_to_fp16((float)((x >> 20) & 0xffff) / 65536.0f - 0.5f);
		}
		if (!q8)
			continue;
		/* random int8 values; the scales (fp16, [block][pos]) reuse the front of lk and lv */
		lkq[l] = kv_mem(per);
		lvq[l] = kv_mem(per);
		for (size_t i = 0; i < per; i++) {
			lkq[l][i] = (int8_t)(lk[l][i] & 0xff);
			lvq[l][i] = (int8_t)(lv[l][i] & 0xff);
		}
		for (size_t i = 0; i < per / 32; i++)
			lk[l][i] = lv[l][i] = quant_f32_to_fp16(0.004f);
	}
	size_t n_parts = ((size_t)depth + PART - 1) / PART;
	float *q = malloc(N_HEAD * HD * sizeof(float));
	for (int i = 0; i < N_HEAD * HD; i++)
		q[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
	float *o = malloc(n_parts * N_HEAD * HD * sizeof(float));
	struct attn_q8_query *qq = aligned_alloc(64, N_HEAD * sizeof(*qq));
	float *lse = malloc(n_parts * N_HEAD * sizeof(float));
	pthread_barrier_t go, done;
	pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
	pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
	struct job job = { 0 };
	job.touch = q8 && getenv("TOUCH") != NULL && strcmp(getenv("TOUCH"), "1") == 0;
	struct worker *w = calloc((size_t)threads, sizeof *w);
	pthread_t *tid = calloc((size_t)threads, sizeof *tid);
	size_t sf = (attn_decode_scratch_floats(HD) + 15) & ~(size_t)15;
	size_t sf8 = (attn_decode_q8_scratch_floats(HD) + 15) & ~(size_t)15;
	sf = sf8 > sf ? sf8 : sf;
	for (long t = 0; t < threads; t++) {
		w[t] = (struct worker){ &job, aligned_alloc(64, sf * sizeof(float)), &go, &done,
		    (int)layers, (int)reps, lk, lv, (int)t };
		pthread_create(&tid[t], NULL, worker_main, &w[t]);
	}
	double best = 1e30;
	for (long r = 0; r < reps; r++) {
		double t0 = now();
		for (long l = 0; l < layers; l++) {
			job.k = lk[l];
			job.v = lv[l];
			job.kq = q8 ? lkq[l] : NULL;
			job.vq = q8 ? lvq[l] : NULL;
			job.ks = lk[l];
			job.vs = lv[l];
			job.n_keys = (size_t)depth;
			job.n_parts = n_parts;
			job.q = q;
			if (q8) {   /* once per layer, as the backend does */
				for (int h = 0; h < N_HEAD; h++)
					attn_decode_q8_query(q + h * HD, HD, 0.125f, &qq[h]);
				job.qq = qq;
			}
			job.o = o;
			job.lse = lse;
			threadpool_runs_init(&job.runs, n_parts, (int)threads);
			pthread_barrier_wait(&go);
			pthread_barrier_wait(&done);
		}
		double dt = now() - t0;
		best = dt < best ? dt : best;
	}
	job.n_parts = 0;
	pthread_barrier_wait(&go);
	for (long t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	double bytes = 2.0 * (double)per * (q8 ? 1.0 + 2.0 / 32 : 2.0) * (double)layers;
	printf("%s%s: depth %ld, %ld layers, %ld threads: best %.2f ms per token (%.1f tokens/s), "
	    "KV %.0f MB at %.1f GB/s\n", job.touch ? "touch" : q8 ? attn_decode_q8_active()->name :
	    attn_decode_active()->name, q8 ? " q8_0" : "", depth, layers, threads,
	    best * 1e3, 1.0 / best, bytes / 1e6, bytes / best / 1e9);
	return 0;
}
