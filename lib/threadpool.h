/* threadpool.h: a persistent pool of threads that run one job at a time and wait for it: the
 * fork-join shape of a matrix product split by rows.
 *
 * A job is fn(ctx, i, n) for every index i in 0..n-1. The calling thread runs index 0; each
 * helper thread runs its own index if it picks the job up in time, and the caller runs the
 * indices no helper has claimed by the time it is done with its own. So a helper that is
 * asleep or descheduled on a busy machine never holds the caller up, but fn must not wait for
 * other indices (no barriers inside a job): two indices may run one after the other on the
 * same thread. Between jobs a helper spins briefly (the next job usually comes within
 * microseconds) and then sleeps on a condition variable, so an idle pool costs no CPU.
 * One job at a time: the run functions must not be called concurrently on the same pool nor
 * from inside a job. */
#ifndef QUIRE_LIB_THREADPOOL_H
#define QUIRE_LIB_THREADPOOL_H

#include <stddef.h>

struct threadpool;   /* opaque */

typedef void (*threadpool_fn)(void *ctx, int thread_index, int n_threads);

#define THREADPOOL_MAX_THREADS 512

/* n_threads in 1..THREADPOOL_MAX_THREADS (1 = no helper threads). -1 with *err when out of
 * range or when a thread cannot be created. */
int threadpool_create(int n_threads, struct threadpool **out, char **err);
/* Run fn(ctx, i, n) once for each i in 0..n-1 and return when all have returned. tp may be
 * NULL: then fn(ctx, 0, 1) runs on the caller. */
void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *ctx);
/* The same for jobs whose calls take their work from a shared counter, so that any number of
 * calls finishes the job: indices that no helper has claimed when the caller's own call
 * returns are dropped instead of run. */
void threadpool_run_greedy(struct threadpool *tp, threadpool_fn fn, void *ctx);
int threadpool_size(const struct threadpool *tp);   /* 1 for NULL */
void threadpool_destroy(struct threadpool *tp);     /* joins the helpers; NULL is fine */

/* Work items 0..n-1 of a greedy job, dealt as one run of consecutive items per thread: each
 * thread takes its own run in order, then helps with what is left of the others'. Streaming
 * work wants this over one shared counter, which deals the items out in turn: there each
 * item's prefetching runs into an item another core reads next, and two threads read no
 * faster than one. */
#define THREADPOOL_RUNS_MAX 16   /* runs at most; threads beyond share them */

struct threadpool_runs {
	unsigned n_runs;
	struct {
		_Alignas(64) unsigned next;   /* atomic: the run's next item */
		unsigned end;                 /* one past its last item */
	} run[THREADPOOL_RUNS_MAX];
};

/* n_items (at most UINT_MAX) in one run per thread for n_threads (at least 1). */
static inline void threadpool_runs_init(struct threadpool_runs *r, size_t n_items,
    int n_threads)
{
	r->n_runs = n_threads < THREADPOOL_RUNS_MAX ? (unsigned)n_threads : THREADPOOL_RUNS_MAX;
	for (unsigned i = 0; i < r->n_runs; i++) {
		r->run[i].next = (unsigned)(n_items * i / r->n_runs);
		r->run[i].end = (unsigned)(n_items * (i + 1) / r->n_runs);
	}
}

/* Thread ith's next item, or -1 when none is left. *cursor starts at 0 for each call of the
 * job's function: the runs the thread has emptied. */
static inline long threadpool_runs_take(struct threadpool_runs *r, int ith, unsigned *cursor)
{
	for (; *cursor < r->n_runs; ++*cursor) {
		unsigned g = ((unsigned)ith + *cursor) % r->n_runs;
		unsigned item = __atomic_fetch_add(&r->run[g].next, 1, __ATOMIC_RELAXED);
		if (item < r->run[g].end)
			return (long)item;
	}
	return -1;
}

#endif
