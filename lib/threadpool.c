/* threadpool.c: helpers wait on a job generation counter (spin, then a condition variable);
 * the caller counts finished helpers by spinning, since the helpers finish close together. */
#include "lib/threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Spin iterations before a helper sleeps, and before the caller starts yielding while it
 * waits for helpers: about 50-100 microseconds of pause instructions. */
#define SPIN_BEFORE_SLEEP 20000
#define SPIN_BEFORE_YIELD 4000

struct helper {
	struct threadpool *tp;   /* back pointer */
	int index;               /* 1..n_threads-1 */
	pthread_t thread;
};

struct threadpool {
	int n_threads;              /* including the caller */
	struct helper *helpers;     /* n_threads - 1 of them */
	threadpool_fn fn;           /* the current job; written before generation moves */
	void *ctx;
	/* Atomics, each on its own cache line so spinning readers don't slow the writers. */
	_Alignas(64) unsigned generation;   /* bumped once per job (and once for shutdown) */
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

/* Wait until generation differs from seen; returns the new value. */
static unsigned wait_for_job(struct threadpool *tp, unsigned seen)
{
	unsigned g;
	for (int i = 0; i < SPIN_BEFORE_SLEEP; i++) {
		g = __atomic_load_n(&tp->generation, __ATOMIC_ACQUIRE);
		if (g != seen)
			return g;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->lock);
	/* seq_cst on both sides: either run() sees n_sleeping > 0 and signals under the lock, or
	 * we see its new generation here. */
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
	unsigned seen = 0;
	for (;;) {
		seen = wait_for_job(tp, seen);
		if (__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE))
			break;
		tp->fn(tp->ctx, h->index, tp->n_threads);
		__atomic_add_fetch(&tp->n_done, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void start_generation(struct threadpool *tp)
{
	__atomic_add_fetch(&tp->generation, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&tp->n_sleeping, __ATOMIC_SEQ_CST) > 0) {
		pthread_mutex_lock(&tp->lock);
		pthread_cond_broadcast(&tp->wake);
		pthread_mutex_unlock(&tp->lock);
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
	__atomic_store_n(&tp->n_done, 0, __ATOMIC_RELAXED);
	start_generation(tp);
	fn(ctx, 0, tp->n_threads);
	int want = tp->n_threads - 1;
	for (int i = 0; __atomic_load_n(&tp->n_done, __ATOMIC_ACQUIRE) != want; i++) {
		if (i < SPIN_BEFORE_YIELD)
			cpu_relax();
		else
			sched_yield();
	}
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
	start_generation(tp);
	for (int i = 1; i < tp->n_threads; i++)
		pthread_join(tp->helpers[i - 1].thread, NULL);
	pthread_mutex_destroy(&tp->lock);
	pthread_cond_destroy(&tp->wake);
	free(tp->helpers);
	free(tp);
}
