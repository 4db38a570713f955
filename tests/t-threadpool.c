/* t-threadpool.c: the persistent thread pool: every job runs once for every index (on its
 * helper or, when the helper is late, on the caller), jobs see each other's results (the join
 * is a real barrier), idle helpers wake up after sleeping, greedy jobs get all their work
 * done, items dealt in runs are each done once, and bad sizes are errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/threadpool.h"
#include "lib/util.h"
#include "tests/tap.h"

struct count_job {
	int n_threads;        /* what the pool should pass */
	int hits[64];         /* per thread index, this job */
	int bad_nth;          /* calls that saw another n_threads */
};

static void count_fn(void *ctx, int ith, int nth)
{
	struct count_job *job = ctx;
	if (nth != job->n_threads || ith < 0 || ith >= 64)
		__atomic_add_fetch(&job->bad_nth, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&job->hits[ith], 1, __ATOMIC_RELAXED);
}

/* Each job reads the array the previous job wrote (plain loads/stores: the pool's join must
 * order them) and writes the next one. */
struct chain_job {
	long *a, *b;          /* read a, write b */
	size_t n;
	int errors;           /* atomic */
};

static void chain_fn(void *ctx, int ith, int nth)
{
	struct chain_job *job = ctx;
	size_t per = (job->n + (size_t)nth - 1) / (size_t)nth;
	size_t lo = per * (size_t)ith, hi = lo + per < job->n ? lo + per : job->n;
	for (size_t i = lo; i < hi; i++) {
		/* element i depends on a neighbour another thread wrote in the previous job */
		size_t j = (i + job->n / 2) % job->n;
		job->b[i] = job->a[j] + 1;
	}
}

#define GREEDY_ITEMS 1000

struct greedy_job {
	int n_threads;            /* what the pool should pass */
	unsigned next;            /* atomic: next item */
	int done[GREEDY_ITEMS];   /* times each item was done */
	int calls;                /* atomic: calls of the job function */
	int caller_ran;           /* index 0 was called */
	int bad;                  /* calls with a wrong index or count */
};

static void greedy_fn(void *ctx, int ith, int nth)
{
	struct greedy_job *job = ctx;
	__atomic_add_fetch(&job->calls, 1, __ATOMIC_RELAXED);
	if (nth != job->n_threads || ith < 0 || ith >= nth)
		__atomic_store_n(&job->bad, 1, __ATOMIC_RELAXED);
	if (ith == 0)
		job->caller_ran = 1;
	for (;;) {
		unsigned i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
		if (i >= GREEDY_ITEMS)
			break;
		__atomic_add_fetch(&job->done[i], 1, __ATOMIC_RELAXED);
	}
}

/* A greedy job whose items are dealt in runs: each item done once, and each thread's first
 * items those at the start of its own run, in order. */
struct runs_job {
	struct threadpool_runs runs;
	size_t n_items;
	int done[GREEDY_ITEMS];   /* times each item was done */
	int out_of_order;         /* atomic: a thread's own-run items not in increasing order */
};

static void runs_fn(void *ctx, int ith, int nth)
{
	(void)nth;
	struct runs_job *job = ctx;
	unsigned cursor = 0;
	long last = -1;
	for (long i; (i = threadpool_runs_take(&job->runs, ith, &cursor)) >= 0;) {
		if (i < 0 || (size_t)i >= job->n_items) {
			__atomic_add_fetch(&job->out_of_order, 1000, __ATOMIC_RELAXED);
			break;
		}
		if (cursor == 0 && i <= last)
			__atomic_add_fetch(&job->out_of_order, 1, __ATOMIC_RELAXED);
		if (cursor == 0)
			last = i;
		__atomic_add_fetch(&job->done[i], 1, __ATOMIC_RELAXED);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int main(void)
{
	static const int sizes[] = { 1, 2, 3, 8 };
	for (size_t si = 0; si < Q_ARRAY_LEN(sizes); si++) {
		int n = sizes[si];
		struct threadpool *tp = NULL;
		char *err = NULL;
		int rc = threadpool_create(n, &tp, &err);
		if (!ok(rc == 0 && tp != NULL, "create a pool of %d", n)) {
			diag("%s", err ? err : "?");
			free(err);
			continue;
		}
		is_int(threadpool_size(tp), n, "pool of %d reports its size", n);

		struct count_job job;
		memset(&job, 0, sizeof job);
		job.n_threads = n;
		enum { RUNS = 2000 };
		for (int r = 0; r < RUNS; r++) {
			threadpool_run(tp, count_fn, &job);
			if (r == RUNS / 2)
				sleep_ms(50);   /* let the helpers fall asleep, then wake them */
		}
		int bad = job.bad_nth;
		for (int i = 0; i < n; i++)
			bad += job.hits[i] != RUNS;
		ok(bad == 0, "pool of %d: %d jobs ran once for each index", n, RUNS);

		/* many tiny jobs back to back: helpers are often late (claims race with the
		 * caller, and stale helpers must not run a later job's index twice) */
		memset(&job, 0, sizeof job);
		job.n_threads = n;
		enum { TINY = 50000 };
		for (int r = 0; r < TINY; r++)
			threadpool_run(tp, count_fn, &job);
		bad = job.bad_nth;
		for (int i = 0; i < n; i++)
			bad += job.hits[i] != TINY;
		ok(bad == 0, "pool of %d: %d tiny jobs ran once for each index", n, TINY);

		/* greedy jobs: every work item done exactly once, however many threads joined */
		struct greedy_job gj;
		memset(&gj, 0, sizeof gj);
		int gbad = 0;
		for (int r = 0; r < 300; r++) {
			memset(&gj, 0, sizeof gj);
			gj.n_threads = n;
			threadpool_run_greedy(tp, greedy_fn, &gj);
			for (int i = 0; i < GREEDY_ITEMS; i++)
				gbad += gj.done[i] != 1;
			gbad += gj.bad || !gj.caller_ran || gj.calls < 1 || gj.calls > n;
		}
		is_int(gbad, 0, "pool of %d: 300 greedy jobs did every item once", n);

		/* items dealt in runs: every one done once, for any count of items (fewer than
		 * the threads, too), and one thread alone takes them in order */
		static const size_t n_items[] = { 0, 1, 2, 7, 100, GREEDY_ITEMS };
		int rbad = 0, rorder = 0;
		for (size_t ii = 0; ii < Q_ARRAY_LEN(n_items); ii++)
			for (int r = 0; r < 50; r++) {
				struct runs_job rj;
				memset(&rj, 0, sizeof rj);
				rj.n_items = n_items[ii];
				threadpool_runs_init(&rj.runs, rj.n_items, n);
				threadpool_run_greedy(tp, runs_fn, &rj);
				for (size_t i = 0; i < GREEDY_ITEMS; i++)
					rbad += rj.done[i] != (i < rj.n_items);
				rorder += rj.out_of_order;
			}
		ok(rbad == 0 && rorder == 0, "pool of %d: items dealt in runs done once each, "
		    "each run in order (%d wrong, %d out of order)", n, rbad, rorder);

		enum { N = 10007 };
		long *a = xcalloc(N, sizeof *a), *b = xcalloc(N, sizeof *b);
		struct chain_job cj = { a, b, N, 0 };
		for (int r = 0; r < 500; r++) {
			threadpool_run(tp, chain_fn, &cj);
			long *t = cj.a;
			cj.a = cj.b;
			cj.b = t;
		}
		int wrong = 0;
		for (size_t i = 0; i < N; i++)
			wrong += cj.a[i] != 500;
		is_int(wrong, 0, "pool of %d: 500 dependent jobs see each other's writes", n);
		free(a);
		free(b);
		threadpool_destroy(tp);
	}

	struct count_job job1;
	memset(&job1, 0, sizeof job1);
	job1.n_threads = 1;
	threadpool_run(NULL, count_fn, &job1);
	ok(job1.hits[0] == 1 && job1.bad_nth == 0 && threadpool_size(NULL) == 1,
	    "a NULL pool runs the job on the caller");

	/* more threads than runs: the runs are shared, nothing is lost */
	struct threadpool *big = NULL;
	if (threadpool_create(THREADPOOL_RUNS_MAX + 4, &big, NULL) == 0) {
		struct runs_job rj;
		memset(&rj, 0, sizeof rj);
		rj.n_items = GREEDY_ITEMS;
		threadpool_runs_init(&rj.runs, rj.n_items, THREADPOOL_RUNS_MAX + 4);
		threadpool_run_greedy(big, runs_fn, &rj);
		int rbad = 0;
		for (size_t i = 0; i < GREEDY_ITEMS; i++)
			rbad += rj.done[i] != 1;
		ok(rbad == 0 && rj.runs.n_runs == THREADPOOL_RUNS_MAX,
		    "%d threads share %d runs: every item done once", THREADPOOL_RUNS_MAX + 4,
		    THREADPOOL_RUNS_MAX);
		threadpool_destroy(big);
	} else {
		ok(0, "create a pool of %d", THREADPOOL_RUNS_MAX + 4);
	}

	struct threadpool *tp = (struct threadpool *)1;
	char *err = NULL;
	int rc = threadpool_create(0, &tp, &err);
	ok(rc < 0 && tp == NULL && err != NULL, "0 threads is an error: %s", err ? err : "");
	free(err);
	err = NULL;
	rc = threadpool_create(THREADPOOL_MAX_THREADS + 1, &tp, &err);
	ok(rc < 0 && tp == NULL && err != NULL, "too many threads is an error: %s",
	    err ? err : "");
	free(err);
	threadpool_destroy(NULL);
	ok(1, "destroying NULL is harmless");

	/* a pool created and destroyed at once, helpers never given a job */
	for (int i = 0; i < 20; i++) {
		struct threadpool *p = NULL;
		if (threadpool_create(4, &p, NULL) == 0)
			threadpool_destroy(p);
	}
	ok(1, "20 pools created and destroyed without a job");
	done_testing();
	return exit_status();
}
