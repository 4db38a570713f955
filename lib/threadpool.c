/* threadpool.c: a job is published by bumping a generation counter; each index of the job is
 * claimed by a compare-and-swap of its slot from the previous generation to the current one,
 * by its helper or, when the caller gets there first, by the caller. The caller then waits only
 * for helpers that claimed an index, spinning and then yielding, since they finish close
 * together. A stale helper (it saw generation g but was descheduled until g was over) cannot
 * claim anything, because by then the caller has claimed every slot for g or later. */
#include "lib/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Pause-loop iterations before a helper sleeps (about 100 microseconds: the next job of a
 * forward pass usually comes sooner), and before a waiting caller starts to yield its core. */
#define SPIN_BEFORE_SLEEP 2048
#define SPIN_BEFORE_YIELD 1024

struct helper {
	struct threadpool *tp;   /* back pointer */
	int index;               /* 1..n_threads-1 */
	pthread_t thread;
	_Alignas(64) uint32_t claimed;   /* atomic: generation for which this index was claimed */
};

struct threadpool {
	int n_threads;              /* including the caller */
	struct helper *helpers;     /* helpers[i - 1] owns index i */
	threadpool_fn fn;           /* the current job; written before generation moves */
	void *ctx;
	/* Atomics, each on its own cache line so spinning readers don't slow the writers. */
	_Alignas(64) uint32_t generation;   /* bumped once per job (and once for shutdown) */
	_Alignas(64) int n_done;            /* helper-claimed indices finished this job */
	_Alignas(64) int n_sleeping;        /* helpers in (or entering) pthread_cond_wait */
	int stop;                           /* set before the shutdown generation */
	pthread_mutex_t lock;               /* guards the sleep/wake hand-off */
	pthread_cond_t wake;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claim index slot h for generation g: 1 if this thread now owns it. Every slot holds g - 1
 * when job g starts (job g - 1 ended with all its slots claimed), so the swap from exactly
 * g - 1 fails for a second claimant and for a stale helper alike. */
static int claim(struct helper *h, uint32_t g)
{
	uint32_t expected = g - 1;
	return __atomic_compare_exchange_n(&h->claimed, &expected, g, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE);
}

/* Wait until the generation differs from seen; returns the new one. */
static uint32_t wait_for_job(struct threadpool *tp, uint32_t seen)
{
	uint32_t g;
	for (int i = 0; i < SPIN_BEFORE_SLEEP; i++) {
		g = __atomic_load_n(&tp->generation, __ATOMIC_ACQUIRE);
		if (g != seen)
			return g;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->lock);
	/* seq_cst on both sides: either start_job() sees n_sleeping > 0 and broadcasts under the
	 * lock, or we see its new generation here. */
	__atomic_add_fetch(&tp->n_sleeping, 1, __ATOMIC_SEQ_CST);
	while ((g = __atomic_load_n(&tp->generation, __ATOMIC_SEQ_CST)) == seen)
		pthread_cond_wait(&tp->wake, &tp->lock);
	__atomic_sub_fetch(&tp->n_sleeping, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&tp->lock);
	return g;
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	struct threadpool *tp = h->tp;
	uint32_t seen = 0;
	for (;;) {
		seen = wait_for_job(tp, seen);
		if (__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE))
			break;
		if (claim(h, seen)) {
			tp->fn(tp->ctx, h->index, tp->n_threads);
			__atomic_add_fetch(&tp->n_done, 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

/* Publish the next generation (fn and ctx are already stored) and wake sleeping helpers. */
static uint32_t start_job(struct threadpool *tp)
{
	__atomic_store_n(&tp->n_done, 0, __ATOMIC_RELAXED);
	uint32_t g = __atomic_add_fetch(&tp->generation, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&tp->n_sleeping, __ATOMIC_SEQ_CST) > 0) {
		pthread_mutex_lock(&tp->lock);
		pthread_cond_broadcast(&tp->wake);
		pthread_mutex_unlock(&tp->lock);
	}
	return g;
}

/* After the caller's own index: take every unclaimed index (running it unless greedy), then
 * wait for the helpers that claimed theirs. */
static void finish_job(struct threadpool *tp, uint32_t g, int run_unclaimed)
{
	int by_helpers = 0;
	for (int i = 1; i < tp->n_threads; i++) {
		if (claim(&tp->helpers[i - 1], g)) {
			if (run_unclaimed)
				tp->fn(tp->ctx, i, tp->n_threads);
		} else {
			by_helpers++;
		}
	}
	for (int i = 0; __atomic_load_n(&tp->n_done, __ATOMIC_ACQUIRE) != by_helpers; i++) {
		if (i < SPIN_BEFORE_YIELD)
			cpu_relax();
		else
			sched_yield();
	}
}

int threadpool_create(int n_threads, struct threadpool **out, char **err)
{
	*out = NULL;
	if (n_threads < 1 || n_threads > THREADPOOL_MAX_THREADS)
		return q_error(err, "thread pool: %d threads is out of range 1..%d", n_threads,
		    THREADPOOL_MAX_THREADS);
	/* Both structs are over-aligned (cache-line fields), which calloc doesn't promise. */
	void *mem = NULL, *hmem = NULL;
	size_t hbytes = sizeof(struct helper) * (size_t)n_threads;
	if (posix_memalign(&mem, 64, sizeof(struct threadpool)) != 0 ||
	    posix_memalign(&hmem, 64, hbytes) != 0)
		fatal("out of memory allocating a thread pool");
	struct threadpool *tp = memset(mem, 0, sizeof(struct threadpool));
	tp->helpers = memset(hmem, 0, hbytes);
	tp->n_threads = n_threads;
	pthread_mutex_init(&tp->lock, NULL);
	pthread_cond_init(&tp->wake, NULL);
	for (int i = 1; i < n_threads; i++) {
		struct helper *h = &tp->helpers[i - 1];
		h->tp = tp;
		h->index = i;
		int e = pthread_create(&h->thread, NULL, helper_main, h);
		if (e != 0) {
			tp->n_threads = i;   /* only helpers 1..i-1 exist */
			threadpool_destroy(tp);
			return q_error(err, "thread pool: cannot start thread %d of %d: %s", i,
			    n_threads, strerror(e));
		}
	}
	*out = tp;
	return 0;
}

static void run(struct threadpool *tp, threadpool_fn fn, void *ctx, int run_unclaimed)
{
	if (tp == NULL || tp->n_threads == 1) {
		fn(ctx, 0, 1);
		return;
	}
	tp->fn = fn;
	tp->ctx = ctx;
	uint32_t g = start_job(tp);
	fn(ctx, 0, tp->n_threads);
	finish_job(tp, g, run_unclaimed);
}

void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *ctx)
{
	run(tp, fn, ctx, 1);
}

void threadpool_run_greedy(struct threadpool *tp, threadpool_fn fn, void *ctx)
{
	run(tp, fn, ctx, 0);
}

int threadpool_size(const struct threadpool *tp)
{
	return tp ? tp->n_threads : 1;
}

void threadpool_destroy(struct threadpool *tp)
{
	if (tp == NULL)
		return;
	__atomic_store_n(&tp->stop, 1, __ATOMIC_RELEASE);
	start_job(tp);
	for (int i = 1; i < tp->n_threads; i++)
		pthread_join(tp->helpers[i - 1].thread, NULL);
	pthread_mutex_destroy(&tp->lock);
	pthread_cond_destroy(&tp->wake);
	free(tp->helpers);
	free(tp);
}
