/* fuzz-kv-file.c: a libFuzzer target for the KV cache file (engine/kv-file.c): every input, as
 * a file, opens or fails with a message naming the file; every row of every committed block of
 * an accepted file can be read or fails naming its block; kv_file_check reports the same
 * refusal or exactly the damaged blocks (and at most one hidden commit); a writer given the file
 * keeps the reader's last commit and cuts only what came after it. Each input runs twice: as it
 * is, and resealed (kv_file_reseal) so that its checksums hold and the checks behind them run.
 *
 * Build with libFuzzer: `make fuzz-short` (see tests/fuzz/README), or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Ibuild/default
 *       tests/fuzz/fuzz-kv-file.c engine/kv-file.c lib/checksum.c lib/alloc.c lib/error.c
 *       lib/file.c -o fuzz-kv-file
 * With -DQUIRE_FUZZ_STANDALONE instead of -fsanitize=fuzzer it runs the files it is given.
 * Files go through a folder of its own under $TMPDIR (else /dev/shm, else /tmp), removed at
 * exit. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/kv-file.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KVF_CHECK(cond) do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz-kv-file: check failed: %s (line %d)\n", #cond, __LINE__); \
			abort(); \
		} \
	} while (0)

static char *kvf_dir, *kvf_path, *kvf_lock;

static void kvf_cleanup(void)
{
	unlink(kvf_path);
	unlink(kvf_lock);
	rmdir(kvf_dir);
	free(kvf_path);
	free(kvf_lock);
	free(kvf_dir);
}

static void kvf_setup(void)
{
	if (kvf_dir != NULL)
		return;
	/* In memory when we can: every input is a file written, mapped, locked and cut. */
	const char *t = getenv("TMPDIR");
	if (t == NULL || t[0] == '\0')
		t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	kvf_dir = xasprintf("%s/fuzz-kv-file.XXXXXX", t);
	KVF_CHECK(mkdtemp(kvf_dir) != NULL);
	kvf_path = xasprintf("%s/input.kv", kvf_dir);
	kvf_lock = xasprintf("%s.lock", kvf_path);
	atexit(kvf_cleanup);
}

static void kvf_write(const uint8_t *data, size_t size)
{
	/* A new file each time: rewriting one in place makes ext4 flush it on close. */
	unlink(kvf_path);
	int fd = open(kvf_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	KVF_CHECK(fd >= 0);
	while (size > 0) {
		ssize_t w = write(fd, data, size);
		KVF_CHECK(w > 0);
		data += w;
		size -= (size_t)w;
	}
	KVF_CHECK(close(fd) == 0);
}

struct kvf_reports {
	uint64_t n;               /* messages */
	char *first;              /* the first one */
};

static void kvf_report(void *ctx, const char *msg)
{
	struct kvf_reports *r = ctx;
	KVF_CHECK(strncmp(msg, kvf_path, strlen(kvf_path)) == 0);
	if (r->n++ == 0)
		r->first = xstrdup(msg);
}

/* Read every row of every committed block: the count of damaged blocks. */
static uint64_t kvf_walk(struct kv_file *f)
{
	const struct kv_file_params *p = kv_file_get_params(f);
	size_t rows_bytes = kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim) *
	    p->block_tokens;
	KVF_CHECK(rows_bytes > 0 && kv_file_block_bytes(p) == rows_bytes * 2 * p->n_layer);
	struct kv_file_commit c;
	kv_file_last_commit(f, &c);
	uint64_t tokens = 0, bad = 0;
	char *err = NULL;
	for (uint64_t i = 0; i < c.n_blocks; i++) {
		uint32_t n = kv_file_block_tokens(f, i);
		KVF_CHECK(n >= 1 && n <= p->block_tokens);
		KVF_CHECK(n == p->block_tokens || i + 1 == c.n_blocks);
		tokens += n;
		int damaged = 0;
		for (uint32_t l = 0; l < p->n_layer; l++) {
			for (int kind = 0; kind < 2; kind++) {
				const void *rows;
				if (kv_file_block_rows(f, i, l, kind, &rows, &err) != 0) {
					char want[64];
					snprintf(want, sizeof want, ": block %llu is damaged (checksum)",
					    (unsigned long long)i);
					KVF_CHECK(rows == NULL && strstr(err, want) != NULL);
					damaged = 1;
					continue;
				}
				KVF_CHECK(!damaged);   /* one verdict per block */
				/* Touch the first and last byte: a wrong pointer faults here. */
				volatile uint8_t sink = ((const uint8_t *)rows)[0] ^
				    ((const uint8_t *)rows)[rows_bytes - 1];
				(void)sink;
			}
		}
		bad += (uint64_t)damaged;
	}
	KVF_CHECK(tokens == c.n_tokens);
	KVF_CHECK(kv_file_block_tokens(f, c.n_blocks) == 0);
	const void *rows;
	KVF_CHECK(kv_file_block_rows(f, c.n_blocks, 0, 0, &rows, &err) == -1);
	KVF_CHECK(kv_file_block_rows(f, 0, p->n_layer, 0, &rows, &err) == -1);
	free(err);
	return bad;
}

static void kvf_run(const uint8_t *data, size_t size)
{
	kvf_write(data, size);
	struct kv_file *f = NULL;
	char *err = NULL;
	int rc = kv_file_open_read(kvf_path, NULL, &f, &err);

	struct kvf_reports rep = { 0, NULL };
	uint64_t problems = 0;
	KVF_CHECK(kv_file_check(kvf_path, kvf_report, &rep, &problems, &err) == 0);
	KVF_CHECK(problems <= rep.n);
	if (rc != 0) {
		KVF_CHECK(rc == -1 && f == NULL && err != NULL);
		KVF_CHECK(strncmp(err, kvf_path, strlen(kvf_path)) == 0);
		KVF_CHECK(problems == 1 && strcmp(rep.first, err) == 0);
		free(rep.first);
		free(err);
		return;
	}
	KVF_CHECK(f != NULL && err == NULL);
	free(rep.first);
	uint64_t bad = kvf_walk(f);
	KVF_CHECK(problems == bad || problems == bad + 1);
	struct kv_file_params p = *kv_file_get_params(f);
	struct kv_file_commit c, wc, rc2;
	kv_file_last_commit(f, &c);
	kv_file_close(f);

	/* The writer sees the same commit and cuts the file after it, no further. */
	struct kv_file *w = NULL;
	KVF_CHECK(kv_file_open_write(kvf_path, &p, "fuzz", &w, &err) == 0 && err == NULL);
	kv_file_last_commit(w, &wc);
	KVF_CHECK(memcmp(&wc, &c, sizeof c) == 0);
	kv_file_close(w);
	struct stat st;
	KVF_CHECK(stat(kvf_path, &st) == 0 && (uint64_t)st.st_size <= size + 64);
	KVF_CHECK(kv_file_open_read(kvf_path, &p, &f, &err) == 0);
	kv_file_last_commit(f, &rc2);
	KVF_CHECK(memcmp(&rc2, &c, sizeof c) == 0);
	KVF_CHECK(kvf_walk(f) == bad);
	kv_file_close(f);
	free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kvf_setup();
	kvf_run(data, size);
	uint8_t *copy = xmalloc(size ? size : 1);
	if (size)
		memcpy(copy, data, size);
	kv_file_reseal(copy, size);
	kvf_run(copy, size);
	free(copy);
	return 0;
}

#ifdef QUIRE_FUZZ_STANDALONE
#include "tests/fuzz/standalone.h"
int main(int argc, char **argv)
{
	return fuzz_standalone_run(argc, argv, "fuzz-kv-file", 1u << 28);
}
#endif
