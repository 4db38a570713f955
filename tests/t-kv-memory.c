/* t-kv-memory.c: indexing keeps memory bounded whatever the corpus: the peak RSS of indexing
 * 16K and 64K tokens (a tiny synthetic llama, window 1024, each run in its own process)
 * differ by less than 8 MB, while the files differ by 12 MB; the cache of the longer run
 * holds every token. The index keeps no per-token state in memory (block summaries, when they
 * come, will add their own share). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/kv-index.h"
#include "engine/model.h"
#include "kernels/cpu-features.h"
#include "lib/util.h"
#include "tests/tap.h"

static char dir[256];

/* Index n pseudo-random tokens; the child writes its peak RSS (KiB) to fd. */
static int index_tokens(struct model *m, const char *path, uint64_t n)
{
	struct rope_config rc;
	char *err = NULL;
	if (context_rope_config(m, NULL, m->hp.n_ctx_train, &rc, &err) != 0)
		return -1;
	struct kv_file_params p = {
		.model_id = model_fingerprint(m), .rope_id = rope_fingerprint(&rc), .dtype = KV_F16,
		.block_tokens = 128, .sinks = 4, .window = 1024, .n_layer = m->hp.n_layer,
		.n_head_kv = m->hp.n_head_kv, .head_dim = m->hp.head_dim,
	};
	struct kv_file *f = NULL;
	struct context *c = NULL;
	struct kv_index *ix = NULL;
	int rc_ = -1;
	struct context_params cp = {
		.n_ctx = (uint32_t)kv_index_slots(&p, n), .n_batch = kv_index_chunk(128),
		.n_threads = 1, .kv_type = KV_F16, .rope_ctx = m->hp.n_ctx_train,
	};
	struct kv_index_opts o = { .n_total = n };
	if (kv_file_open_write(path, &p, "t-kv-memory", &f, &err) != 0 ||
	    context_create(m, &cp, &c, &err) != 0 || kv_index_begin(c, f, &o, &ix, &err) != 0)
		goto out;
	uint64_t x = 88172645463325252ull;
	int32_t buf[1000];
	for (uint64_t done = 0; done < n;) {
		size_t k = n - done < 1000 ? (size_t)(n - done) : 1000;
		for (size_t i = 0; i < k; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (int32_t)(x % m->hp.n_vocab);
		}
		if (kv_index_feed(ix, buf, k, &err) != 0)
			goto out;
		done += k;
	}
	if (kv_index_finish(ix, 1, &err) != 0)
		goto out;
	rc_ = 0;
out:
	if (err != NULL) {
		fprintf(stderr, "# %s\n", err);
		free(err);
	}
	kv_index_free(ix);
	context_free(c);
	kv_file_close(f);
	return rc_;
}

static long peak_rss_kib(struct model *m, const char *path, uint64_t n)
{
	int fd[2];
	if (pipe(fd) != 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		long v = -1;
		if (index_tokens(m, path, n) == 0) {
			struct rusage ru;
			getrusage(RUSAGE_SELF, &ru);
			v = ru.ru_maxrss;
		}
		ssize_t w = write(fd[1], &v, sizeof v);
		_exit(w == sizeof v ? 0 : 1);
	}
	close(fd[1]);
	long v = -1;
	if (read(fd[0], &v, sizeof v) != sizeof v)
		v = -1;
	close(fd[0]);
	int st;
	waitpid(pid, &st, 0);
	return v;
}

int main(void)
{
	const char *src = getenv("srcdir");
	char *path = xasprintf("%s/tests/data/synthetic/llama-q4_0.gguf", src ? src : ".");
	if (access(path, R_OK) != 0)
		return skip_all("no tests/data/synthetic");
	char *err = NULL;
	struct model *m;
	if (cpu_simd_init(&err) != 0 || model_load(path, &m, &err) != 0) {
		diag("%s", err);
		ok(0, "set up");
		return exit_status();
	}
	if (tap_tmpdir("t-kv-memory", dir, sizeof dir) != 0)
		fatal("tmpdir");
	char *a = xasprintf("%s/16k.kv", dir), *b = xasprintf("%s/64k.kv", dir);
	long r16 = peak_rss_kib(m, a, 16384), r64 = peak_rss_kib(m, b, 65536);
	ok(r16 > 0 && r64 > 0, "indexed 16K and 64K tokens (peak RSS %ld and %ld KiB)", r16, r64);
	ok(r16 > 0 && r64 - r16 < 8 * 1024, "the peaks differ by less than 8 MB (%ld KiB)",
	    r64 - r16);
	struct stat sa, sb;
	long long grew = stat(a, &sa) == 0 && stat(b, &sb) == 0 ?
	    (long long)(sb.st_size - sa.st_size) : -1;
	ok(grew > 12 * 1000 * 1000, "while the files differ by more than 12 MB (%lld bytes)", grew);
	struct kv_file *f;
	struct kv_file_commit last = { 0 };
	if (kv_file_open_read(b, NULL, &f, &err) == 0) {
		kv_file_last_commit(f, &last);
		kv_file_close(f);
	}
	is_int((long long)last.n_tokens, 65536, "the 64K cache holds every token");
	tap_tmpdir_remove(dir);
	free(a);
	free(b);
	free(path);
	model_free(m);
	done_testing();
	return exit_status();
}
