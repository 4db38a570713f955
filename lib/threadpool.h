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

#endif
