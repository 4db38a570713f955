/* bench-matmul.c: speed of the CPU matrix products per weight type, SIMD level, shape, thread
 * count and batch size, in GFLOP/s and weight rows/s (a micro-benchmark, not a test).
 *
 *   bench-matmul [-q] [TYPE...]      e.g. bench-matmul q4_1 q8_0
 *   bench-matmul -p [TOKENS]         prefill estimate: the 7 products of each of SmolLM2-135M's
 *                                    30 layers (q4_1) on a TOKENS-token prompt (default 128)
 *
 * Shapes are SmolLM2-135M's: 576x576 (attention), 1536x576 (FFN) and 49152x576 (output head),
 * rows x columns; K-quants need columns in whole 256-blocks, so they use 768 columns. Levels
 * above QUIRE_SIMD (if set) are skipped. -q runs fewer repetitions. Timings include quantizing
 * the activations, as the forward pass pays for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu-features.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "lib/threadpool.h"
#include "lib/util.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random weights with small finite fp16 scales (their values don't matter for speed, but NaN
 * or denormal floats might). */
static void *make_weights(enum ggml_type t, size_t rows, size_t cols, size_t *bytes_out)
{
	size_t row_bytes;
	if (quant_row_size(t, cols, &row_bytes, NULL) < 0)
		fatal("bad shape");
	size_t bytes = row_bytes * rows;
	uint8_t *w = xmalloc(bytes);
	const struct ggml_type_traits *tr = ggml_type_traits_of(t);
	uint16_t h = quant_f32_to_fp16(0.01f);
	for (size_t i = 0; i < bytes; i++)
		w[i] = (uint8_t)rnd();
	for (size_t b = 0; b < bytes / tr->block_bytes; b++) {
		uint8_t *p = w + b * tr->block_bytes;
		switch (t) {
		case GGML_TYPE_F32: {
			float f = (float)(rnd() % 2000) / 1000.0f - 1.0f;
			memcpy(p, &f, 4);
			break;
		}
		case GGML_TYPE_F16: case GGML_TYPE_BF16:
			memcpy(p, &h, 2);
			if (t == GGML_TYPE_BF16)
				p[0] = 0, p[1] = 0x3c;
			break;
		case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K:
			memcpy(p + 2, &h, 2);
			/* fall through */
		case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0:
			memcpy(p, &h, 2);
			break;
		case GGML_TYPE_Q6_K:
			memcpy(p + 208, &h, 2);
			break;
		default:
			break;
		}
	}
	*bytes_out = bytes;
	return w;
}

/* Time the weight products of a SmolLM2-135M prefill (attention, norms and the output head
 * excluded) at each SIMD level with 1 and 2 threads: a bound on prompt tokens/s. */
static int prefill_estimate(size_t n_tok)
{
	static const size_t layer[][2] = {   /* rows x cols: q, k, v, o, gate, up, down */
		{ 576, 576 }, { 192, 576 }, { 192, 576 }, { 576, 576 }, { 1536, 576 },
		{ 1536, 576 }, { 576, 1536 },
	};
	enum { N_LAYERS = 30 };
	const enum ggml_type t = GGML_TYPE_Q4_1;
	void *w[N_LAYERS][7];
	size_t bytes;
	for (int l = 0; l < N_LAYERS; l++)
		for (int m = 0; m < 7; m++)
			w[l][m] = make_weights(t, layer[m][0], layer[m][1], &bytes);
	float *x = xmalloc(n_tok * 1536 * sizeof *x), *y = xmalloc(n_tok * 1536 * sizeof *y);
	for (size_t i = 0; i < n_tok * 1536; i++)
		x[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
	char *err = NULL;
	enum cpu_simd_level top = cpu_simd_level();
	for (int nth = 1; nth <= 2; nth++) {
		struct threadpool *tp;
		if (threadpool_create(nth, &tp, &err) < 0)
			fatal("%s", err);
		for (int lv = 0; lv <= (int)top; lv++) {
			if (cpu_simd_set((enum cpu_simd_level)lv, NULL) < 0)
				continue;
			double best = 1e30;
			for (int rep = 0; rep < 3; rep++) {
				double t0 = now();
				for (int l = 0; l < N_LAYERS; l++)
					for (int m = 0; m < 7; m++)
						if (matmul(tp, t, w[l][m], layer[m][0], layer[m][1], x,
						    n_tok, y, &err) < 0)
							fatal("%s", err);
				double el = now() - t0;
				best = el < best ? el : best;
			}
			printf("prefill %zu tokens, q4_1, %-6s %d thread%s: %8.1f tokens/s (weight "
			    "products only)\n", n_tok, cpu_simd_name((enum cpu_simd_level)lv), nth,
			    nth > 1 ? "s" : " ", (double)n_tok / best);
			fflush(stdout);
		}
		threadpool_destroy(tp);
	}
	for (int l = 0; l < N_LAYERS; l++)
		for (int m = 0; m < 7; m++)
			free(w[l][m]);
	free(x);
	free(y);
	return 0;
}

int main(int argc, char **argv)
{
	static const enum ggml_type types[] = {
		GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
		GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_F16, GGML_TYPE_BF16,
		GGML_TYPE_F32,
	};
	static const size_t shapes[][2] = { { 576, 576 }, { 1536, 576 }, { 49152, 576 } };
	static const int threads[] = { 1, 2 };
	static const size_t batches[] = { 1, 64 };
	double min_time = 0.25;
	int first_type_arg = 1;
	if (argc > 1 && strcmp(argv[1], "-q") == 0) {
		min_time = 0.05;
		first_type_arg = 2;
	}

	char *err = NULL;
	if (cpu_simd_init(&err) < 0) {
		fprintf(stderr, "bench-matmul: %s\n", err);
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "-p") == 0) {
		long n = argc > 2 ? atol(argv[2]) : 128;
		if (n < 1 || n > 8192) {
			fprintf(stderr, "bench-matmul: -p wants 1..8192 tokens\n");
			return 2;
		}
		printf("# cpu: %s\n", cpu_features_string());
		return prefill_estimate((size_t)n);
	}
	enum cpu_simd_level top = cpu_simd_level();
	printf("# cpu: %s\n# levels up to %s; GFLOP/s = 2*rows*cols*batch/time\n",
	    cpu_features_string(), cpu_simd_name(top));
	printf("%-5s %-7s %-11s %11s %7s %6s %9s %12s\n", "type", "level", "kernel", "rows x cols",
	    "threads", "batch", "GFLOP/s", "rows/s");

	struct threadpool *pools[2];
	for (int i = 0; i < 2; i++)
		if (threadpool_create(threads[i], &pools[i], &err) < 0)
			fatal("%s", err);
	size_t max_batch = batches[Q_ARRAY_LEN(batches) - 1];
	float *x = xmalloc(768 * max_batch * sizeof *x);
	for (size_t i = 0; i < 768 * max_batch; i++)
		x[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
	float *y = xmalloc(49152 * max_batch * sizeof *y);

	for (size_t ti = 0; ti < Q_ARRAY_LEN(types); ti++) {
		enum ggml_type t = types[ti];
		int wanted = argc <= first_type_arg;
		for (int a = first_type_arg; a < argc; a++)
			wanted |= strcmp(argv[a], ggml_type_traits_of(t)->name) == 0;
		if (!wanted)
			continue;
		for (size_t si = 0; si < Q_ARRAY_LEN(shapes); si++) {
			size_t rows = shapes[si][0], cols = shapes[si][1];
			if (ggml_type_traits_of(t)->block_elems == QK_K)
				cols = 768;
			size_t bytes;
			void *w = make_weights(t, rows, cols, &bytes);
			for (int l = 0; l <= (int)top; l++) {
				if (cpu_simd_set((enum cpu_simd_level)l, NULL) < 0)
					continue;
				for (size_t ni = 0; ni < Q_ARRAY_LEN(threads); ni++)
				for (size_t bi = 0; bi < Q_ARRAY_LEN(batches); bi++) {
					size_t batch = batches[bi];
					/* warm up, then repeat until min_time has passed */
					if (matmul(pools[ni], t, w, rows, cols, x, batch, y, &err) < 0)
						fatal("%s", err);
					int reps = 0;
					double t0 = now(), el;
					do {
						matmul(pools[ni], t, w, rows, cols, x, batch, y, NULL);
						reps++;
						el = now() - t0;
					} while (el < min_time || reps < 3);
					double per = el / reps;
					printf("%-5s %-7s %-11s %5zux%-5zu %7d %6zu %9.2f %12.0f\n",
					    ggml_type_traits_of(t)->name, cpu_simd_name((enum cpu_simd_level)l),
					    quant_kernels_active()->dot_level[t], rows, cols, threads[ni],
					    batch, 2.0 * (double)rows * (double)cols * (double)batch / per * 1e-9,
					    (double)rows * (double)batch / per);
					fflush(stdout);
				}
			}
			free(w);
		}
	}
	for (int i = 0; i < 2; i++)
		threadpool_destroy(pools[i]);
	free(x);
	free(y);
	return 0;
}
