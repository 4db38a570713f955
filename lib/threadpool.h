/* threadpool.h: a persistent pool of threads that run one job at a time on every thread and
 * wait for all of them: the fork-join shape of a matrix product split by rows.
 *
 * The calling thread is thread 0 of every job, so a pool of N runs N-1 helper threads. Between
 * jobs a helper spins briefly (the next job usually comes within microseconds) and then sleeps
 * on a condition variable, so an idle pool costs no CPU. One job at a time: threadpool_run()
 * must not be called concurrently on the same pool nor from inside a job. */
#ifndef QUIRE_LIB_THREADPOOL_H
#define QUIRE_LIB_THREADPOOL_H

struct threadpool;   /* opaque */

/* fn is called once on every thread with its index 0..n_threads-1. */
typedef void (*threadpool_fn)(void *ctx, int thread_index, int n_threads);

#define THREADPOOL_MAX_THREADS 512

/* n_threads in 1..THREADPOOL_MAX_THREADS (1 = no helper threads). -1 with *err when out of
 * range or when a thread cannot be created. */
int threadpool_create(int n_threads, struct threadpool **out, char **err);
/* Run fn(ctx, i, n) for i in 0..n-1 (i = 0 on the calling thread) and return when all are
 * done. tp may be NULL: then fn(ctx, 0, 1) runs on the caller. */
void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *ctx);
/* The same for jobs whose calls take their work from a shared counter, so that any number of
 * threads finishes it: fn runs on the caller and on each helper that picks the job up before
 * the caller's own call returns; helpers that come later (asleep, or descheduled on a busy
 * machine) skip it instead of holding the caller up. */
void threadpool_run_greedy(struct threadpool *tp, threadpool_fn fn, void *ctx);
int threadpool_size(const struct threadpool *tp);   /* 1 for NULL */
void threadpool_destroy(struct threadpool *tp);     /* joins the helpers; NULL is fine */

#endif
