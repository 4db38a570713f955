/* matmul.c: splits a product into chunks of weight rows dealt to the pool's threads in one run
 * of consecutive chunks each, which a thread done with its own helps to empty (so a thread
 * slowed by a busy core takes fewer), and within a chunk walks tiles of rows small enough for
 * L1 while the tokens go by four at a time. */
#include "kernels/matmul.h"

#include <stdint.h>

#include "lib/threadpool.h"
#include "lib/util.h"

#define TILE_BYTES (16 * 1024)   /* weight bytes per tile: well inside a 32-48 KiB L1d */
#define TOKEN_BLOCK 64           /* tokens whose activations stay in L2 per pass over a tile */
_Static_assert(TOKEN_BLOCK % QUANT_ROWS_MAX_NX == 0 && QUANT_MAX_NX == 4,
    "token groups must stay aligned to 4 (the q4_K gemm/gemv split)");

/* One weight matrix of a job and how its rows are cut. */
struct matmul_part {
	quant_dot_fn dot;
	quant_dot_fn dot_tail;        /* tokens from split on: llama.cpp's gemv order for q4_K */
	size_t split;
	quant_dot_rows_fn dot_rows;   /* QUANT_ROWS_NW rows at a time (tokens before split), or
	                               * NULL */
	const unsigned char *w;       /* the first weight row */
	size_t row_bytes;             /* bytes per weight row */
	size_t n_rows;
	float *y;
	size_t chunk_rows;            /* rows per chunk handed out */
	size_t n_chunks;
	size_t tile_rows;             /* rows per L1 tile inside a chunk */
};


/* The products of one pass of the pool: the chunks of every part, numbered part after part
 * (q's, then k's, then v's), all over the same activations, dealt to the threads in runs
 * (lib/threadpool.h): a thread's chunks then follow one another in memory, and the kernels'
 * prefetch past a chunk's end fetches the thread's own next rows, not another core's. */
struct matmul_job {
	struct matmul_part part[MATMUL_MAX_PARTS];
	size_t n_parts;
	size_t n_chunks;              /* over all parts */
	const struct quant_act *act;
	struct threadpool_runs runs;
};

static void run_chunk(const struct matmul_part *part, const struct quant_act *act, size_t r0,
    size_t r1)
{
	size_t n = act->n, n_tok = act->n_rows, n_rows = part->n_rows;
	float out[QUANT_MAX_NX];
	for (size_t t0 = 0; t0 < n_tok; t0 += TOKEN_BLOCK) {
		size_t t1 = t0 + TOKEN_BLOCK < n_tok ? t0 + TOKEN_BLOCK : n_tok;
		for (size_t tr = r0; tr < r1; tr += part->tile_rows) {
			size_t tr1 = tr + part->tile_rows < r1 ? tr + part->tile_rows : r1;
			for (size_t t = t0, step; t < t1; t += step) {
				/* up to QUANT_ROWS_MAX_NX tokens through the multi-row kernel (never
				 * across split), the rows it leaves four tokens at a time */
				int rows = part->dot_rows != NULL && t < part->split;
				size_t lim = rows && part->split < t1 ? part->split : t1;
				size_t most = rows ? QUANT_ROWS_MAX_NX : QUANT_MAX_NX;
				step = lim - t < most ? lim - t : most;
				size_t r = tr;
				if (rows)
					for (; r + QUANT_ROWS_NW <= tr1; r += QUANT_ROWS_NW)
						part->dot_rows(n, part->w + r * part->row_bytes,
						    part->row_bytes, act->rows + t * act->stride,
						    act->stride, (int)step, part->y + t * n_rows + r,
						    n_rows);
				for (size_t u = t; u < t + step && r < tr1; u += QUANT_MAX_NX) {
					int nx = t + step - u < QUANT_MAX_NX ? (int)(t + step - u)
					    : QUANT_MAX_NX;
					quant_dot_fn dot = u >= part->split ? part->dot_tail : part->dot;
					for (size_t rr = r; rr < tr1; rr++) {
						dot(n, part->w + rr * part->row_bytes,
						    act->rows + u * act->stride, act->stride, nx, out);
						for (int k = 0; k < nx; k++)
							part->y[(u + (size_t)k) * n_rows + rr] = out[k];
					}
				}
			}
		}
	}
}

static void matmul_worker(void *ctx, int ith, int nth)
{
	(void)nth;
	struct matmul_job *job = ctx;
	unsigned cursor = 0;
	for (long item; (item = threadpool_runs_take(&job->runs, ith, &cursor)) >= 0;) {
		size_t c = (size_t)item;
		const struct matmul_part *p = job->part;
		while (c >= p->n_chunks) {   /* at most MATMUL_MAX_PARTS steps */
			c -= p->n_chunks;
			p++;
		}
		size_t r0 = c * p->chunk_rows;
		size_t r1 = r0 + p->chunk_rows < p->n_rows ? r0 + p->chunk_rows : p->n_rows;
		run_chunk(p, job->act, r0, r1);
	}
}

/* Check one product and cut it into chunks for nth threads: 0, or -1 with *err. */
static int part_prepare(const struct quant_kernels *k, const struct matmul_spec *s,
    const struct quant_act *act, int nth, struct matmul_part *p, char **err)
{
	enum ggml_type type = s->type;
	size_t row_bytes, total, n_rows = s->n_rows;
	if (quant_row_size(type, act->n, &row_bytes, err) < 0)
		return -1;
	if (act->type != quant_act_type(type))
		return q_error(err, "matmul: activations prepared for %s, weights are %s",
		    ggml_type_traits_of(act->type)->name, ggml_type_traits_of(type)->name);
	if (q_mul_size(row_bytes, n_rows, &total) < 0 || n_rows > UINT32_MAX / 2)
		return q_error(err, "matmul: %zu rows of %zu bytes are too many", n_rows, row_bytes);
	if ((uintptr_t)s->w % (type == GGML_TYPE_F32 ? 4 : 2) != 0)
		return q_error(err, "matmul: %s weights at a misaligned address",
		    ggml_type_traits_of(type)->name);
	if (k == NULL || k->dot[type] == NULL)
		return q_error(err, "matmul: no %s kernel for %s weights", k ? k->name : "(none)",
		    ggml_type_traits_of(type)->name);

	/* llama.cpp's repacked q4_K: whole groups of four tokens through its gemm (when there are
	 * more than three), the rest through its gemv; token groups here are aligned to 4 */
	int x8 = (s->flags & MATMUL_Q4_K_X8) && type == GGML_TYPE_Q4_K;
	size_t n_tok = act->n_rows;
	*p = (struct matmul_part){
		.dot = x8 ? k->dot_q4_K_x8[1] : k->dot[type],
		.dot_tail = x8 ? k->dot_q4_K_x8[0] : k->dot[type],
		.split = x8 && n_tok > 3 ? n_tok - n_tok % 4 : x8 ? 0 : n_tok,
		.dot_rows = x8 ? k->dot_q4_K_x8g_rows : k->dot_rows[type],
		.w = s->w,
		.row_bytes = row_bytes,
		.n_rows = n_rows,
		.y = s->y,
	};
	/* Tiles and chunks are whole groups of QUANT_ROWS_NW rows where the multi-row kernel
	 * exists, so that only the last rows of the matrix go one at a time. */
	size_t group = p->dot_rows != NULL ? QUANT_ROWS_NW : 1;
	p->tile_rows = row_bytes * group >= TILE_BYTES ? group
	    : TILE_BYTES / row_bytes / group * group;
	/* About eight chunks per thread balances an unevenly loaded machine; no chunk is
	 * smaller than 4 rows (the counter would cost more than the work). */
	size_t want = (size_t)nth * 8;
	p->chunk_rows = (n_rows + want - 1) / want;
	if (p->chunk_rows < 4)
		p->chunk_rows = 4;
	p->chunk_rows = (p->chunk_rows + group - 1) / group * group;
	p->n_chunks = (n_rows + p->chunk_rows - 1) / p->chunk_rows;
	return 0;
}

int matmul_many_with(const struct quant_kernels *k, struct threadpool *tp,
    const struct matmul_spec *specs, size_t n_specs, const struct quant_act *act, char **err)
{
	if (n_specs > MATMUL_MAX_PARTS)
		return q_error(err, "matmul: %zu products in one pass (at most %d)", n_specs,
		    MATMUL_MAX_PARTS);
	int nth = threadpool_size(tp);
	struct matmul_job job = { .act = act };
	for (size_t i = 0; i < n_specs; i++) {
		if (part_prepare(k, &specs[i], act, nth, &job.part[job.n_parts], err) != 0)
			return -1;
		if (specs[i].n_rows == 0)
			continue;   /* nothing to compute: no part */
		job.n_chunks += job.part[job.n_parts++].n_chunks;
	}
	if (job.n_chunks == 0 || act->n_rows == 0)
		return 0;
	threadpool_runs_init(&job.runs, job.n_chunks, nth == 1 || job.n_chunks == 1 ? 1 : nth);
	if (nth == 1 || job.n_chunks == 1)
		matmul_worker(&job, 0, 1);
	else
		threadpool_run_greedy(tp, matmul_worker, &job);
	return 0;
}

int matmul_many(struct threadpool *tp, const struct matmul_spec *specs, size_t n_specs,
    const struct quant_act *act, char **err)
{
	return matmul_many_with(quant_kernels_active(), tp, specs, n_specs, act, err);
}

int matmul_act_with(const struct quant_kernels *k, struct threadpool *tp, enum ggml_type type,
    const void *w, size_t n_rows, const struct quant_act *act, unsigned flags, float *y,
    char **err)
{
	struct matmul_spec s = { type, w, n_rows, flags, y };
	return matmul_many_with(k, tp, &s, 1, act, err);
}

int matmul_act(struct threadpool *tp, enum ggml_type type, const void *w, size_t n_rows,
    const struct quant_act *act, unsigned flags, float *y, char **err)
{
	return matmul_act_with(quant_kernels_active(), tp, type, w, n_rows, act, flags, y, err);
}

int matmul(struct threadpool *tp, enum ggml_type type, const void *w, size_t n_rows,
    size_t n_cols, const float *x, size_t n_tokens, float *y, char **err)
{
	struct quant_act act = QUANT_ACT_INIT;
	if (quant_act_prepare(&act, type, x, n_tokens, n_cols, tp, err) < 0)
		return -1;
	int r = matmul_act(tp, type, w, n_rows, &act, 0, y, err);
	quant_act_free(&act);
	return r;
}
