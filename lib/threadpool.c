/* threadpool.c: helpers wait for a job word to change (spin, then a condition variable) and
 * join a job by incrementing the count in that word; the caller waits for the helpers that
 * joined by spinning, then yielding, since they finish close together.
 *
 * The job word packs the job's generation (high 32 bits), a closed flag and the number of
 * helpers that joined. Joining is a compare-and-swap on the whole word, so a helper can only
 * join the generation it saw, never run a later job twice or a closed job late. */
#include "lib/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Pause-loop iterations before a helper sleeps (tens of microseconds: the next job of a
 * forward pass usually comes sooner), and before a waiting caller starts to yield its core. */
#define SPIN_BEFORE_SLEEP 2048
#define SPIN_BEFORE_YIELD 1024

#define JOB_CLOSED ((uint64_t)1 << 31)
#define JOB_COUNT_MASK (JOB_CLOSED - 1)

struct helper {
	struct threadpool *tp;   /* back pointer */
	int index;               /* 1..n_threads-1 */
	pthread_t thread;
};

struct threadpool {
	int n_threads;              /* including the caller */
	struct helper *helpers;     /* n_threads - 1 of them */
	threadpool_fn fn;           /* the current job; written before the job word moves */
	void *ctx;
	/* Atomics, each on its own cache line so spinning readers don't slow the writers. */
	_Alignas(64) uint64_t job;          /* generation << 32 | JOB_CLOSED | helpers joined */
	_Alignas(64) int n_done;            /* helpers finished with the current job */
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

static inline uint32_t generation_of(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

/* Wait until the job word's generation differs from seen; returns the word. */
static uint64_t wait_for_job(struct threadpool *tp, uint32_t seen)
{
	uint64_t w;
	for (int i = 0; i < SPIN_BEFORE_SLEEP; i++) {
		w = __atomic_load_n(&tp->job, __ATOMIC_ACQUIRE);
		if (generation_of(w) != seen)
			return w;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->lock);
	/* seq_cst on both sides: either start_job() sees n_sleeping > 0 and broadcasts under the
	 * lock, or we see its new generation here. */
	__atomic_add_fetch(&tp->n_sleeping, 1, __ATOMIC_SEQ_CST);
	while (generation_of(w = __atomic_load_n(&tp->job, __ATOMIC_SEQ_CST)) == seen)
		pthread_cond_wait(&tp->wake, &tp->lock);
	__atomic_sub_fetch(&tp->n_sleeping, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&tp->lock);
	return w;
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	struct threadpool *tp = h->tp;
	uint32_t seen = 0;
	for (;;) {
		uint64_t w = wait_for_job(tp, seen);
		if (__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE))
			break;
		uint32_t g = generation_of(w);
		seen = g;
		/* Join generation g unless it is closed or already replaced. */
		while (generation_of(w) == g && !(w & JOB_CLOSED)) {
			if (__atomic_compare_exchange_n(&tp->job, &w, w + 1, 0, __ATOMIC_ACQ_REL,
			    __ATOMIC_ACQUIRE)) {
				tp->fn(tp->ctx, h->index, tp->n_threads);
				__atomic_add_fetch(&tp->n_done, 1, __ATOMIC_RELEASE);
				break;
			}
		}
	}
	return NULL;
}

/* Publish the next generation (fn and ctx are already stored) and wake sleeping helpers. */
static void start_job(struct threadpool *tp)
{
	__atomic_store_n(&tp->n_done, 0, __ATOMIC_RELAXED);
	uint64_t w = __atomic_load_n(&tp->job, __ATOMIC_RELAXED);
	__atomic_store_n(&tp->job, (uint64_t)(generation_of(w) + 1) << 32, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&tp->n_sleeping, __ATOMIC_SEQ_CST) > 0) {
		pthread_mutex_lock(&tp->lock);
		pthread_cond_broadcast(&tp->wake);
		pthread_mutex_unlock(&tp->lock);
	}
}

static void wait_done(struct threadpool *tp, int want)
{
	for (int i = 0; __atomic_load_n(&tp->n_done, __ATOMIC_ACQUIRE) != want; i++) {
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
	/* The struct is over-aligned (cache-line fields), which calloc doesn't promise. */
	void *mem = NULL;
	if (posix_memalign(&mem, 64, sizeof(struct threadpool)) != 0)
		fatal("out of memory allocating a thread pool");
	struct threadpool *tp = memset(mem, 0, sizeof(struct threadpool));
	tp->n_threads = n_threads;
	pthread_mutex_init(&tp->lock, NULL);
	pthread_cond_init(&tp->wake, NULL);
	tp->helpers = xcalloc((size_t)n_threads, sizeof *tp->helpers);
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

void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *ctx)
{
	if (tp == NULL || tp->n_threads == 1) {
		fn(ctx, 0, 1);
		return;
	}
	tp->fn = fn;
	tp->ctx = ctx;
	start_job(tp);
	fn(ctx, 0, tp->n_threads);
	wait_done(tp, tp->n_threads - 1);
}

void threadpool_run_greedy(struct threadpool *tp, threadpool_fn fn, void *ctx)
{
	if (tp == NULL || tp->n_threads == 1) {
		fn(ctx, 0, 1);
		return;
	}
	tp->fn = fn;
	tp->ctx = ctx;
	start_job(tp);
	fn(ctx, 0, tp->n_threads);
	uint64_t w = __atomic_fetch_or(&tp->job, JOB_CLOSED, __ATOMIC_ACQ_REL);
	wait_done(tp, (int)(w & JOB_COUNT_MASK));
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
