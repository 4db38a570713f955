/* fuzz-gguf.c: a libFuzzer target for the GGUF loader: every input opens (through a memfd and
 * gguf_open, and from a heap buffer of its exact size so ASan sees any overread) or fails with
 * a message naming the file, and every key and tensor of an accepted file can be walked.
 *
 * Build with libFuzzer (from the repository root; LIB is every lib/ source file):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. tests/fuzz/fuzz-gguf.c
 *       engine/gguf.c kernels/ggml-types.c $LIB -lm -o fuzz-gguf
 *   ./fuzz-gguf -max_len=65536 CORPUS_DIR tests/fuzz/gguf-corpus
 * or, without libFuzzer, add -DQUIRE_FUZZ_STANDALONE to get a program that runs each file named
 * on its command line once (the corpus as a regression test). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "lib/file.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                         \
	do {                                                                                    \
		if (!(cond)) {                                                                      \
			fprintf(stderr, "fuzz-gguf: check failed at line %d: %s\n", __LINE__, #cond);  \
			abort();                                                                        \
		}                                                                                   \
	} while (0)

static void walk_key(const struct gguf_file *f, int k)
{
	const char *name = gguf_key_name(f, k);
	CHECK(name[0] != '\0' && gguf_find_key(f, name) == k);
	char *err = NULL, *s = gguf_render_value(f, k, 0);
	free(s);
	s = gguf_render_value(f, k, 40);
	free(s);

	/* Every getter on every key: each must answer 0 or -1, never 1 (the key exists). */
	union { uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; float f; double d; int b; } v;
	const char *str;
	size_t len;
	char *dup = NULL;
	CHECK(gguf_get_u32(f, name, &v.u32, &err) <= 0);
	CHECK(gguf_get_i32(f, name, &v.i32, &err) <= 0);
	CHECK(gguf_get_u64(f, name, &v.u64, &err) <= 0);
	CHECK(gguf_get_i64(f, name, &v.i64, &err) <= 0);
	CHECK(gguf_get_f32(f, name, &v.f, &err) <= 0);
	CHECK(gguf_get_f64(f, name, &v.d, &err) <= 0);
	CHECK(gguf_get_bool(f, name, &v.b, &err) <= 0);
	if (gguf_get_str(f, name, &str, &len, &err) == 0)
		CHECK((const uint8_t *)str + len <= (const uint8_t *)gguf_base(f) + gguf_file_size(f));
	if (gguf_get_strdup(f, name, &dup, &err) == 0)
		free(dup);

	enum gguf_type et;
	uint64_t n;
	if (gguf_get_arr(f, k, &et, &n, &err) == 0) {
		CHECK(et != GGUF_TYPE_ARRAY && (unsigned)et < GGUF_TYPE_COUNT_);
		CHECK(n <= gguf_file_size(f));
		if (et == GGUF_TYPE_STRING) {
			for (uint64_t i = 0; i < n; i++) {
				CHECK(gguf_get_arr_str(f, k, i, &str, &len, &err) == 0);
				CHECK((const uint8_t *)str + len <=
				    (const uint8_t *)gguf_base(f) + gguf_file_size(f));
			}
			CHECK(gguf_get_arr_str(f, k, n, &str, &len, &err) == -1);
		} else {
			void *dst = xreallocarray(NULL, n ? (size_t)n : 1, 4);
			gguf_get_arr_i32(f, k, dst, n, &err);
			gguf_get_arr_u32(f, k, dst, n, &err);
			gguf_get_arr_f32(f, k, dst, n, &err);
			CHECK(gguf_get_arr_f32(f, k, dst, n + 1, &err) == -1);
			free(dst);
		}
	}
	free(err);
}

static void walk(const struct gguf_file *f)
{
	CHECK(gguf_version(f) == 2 || gguf_version(f) == 3);
	uint32_t a = gguf_alignment(f);
	CHECK(a != 0 && (a & (a - 1)) == 0);
	for (int k = 0; k < gguf_key_count(f); k++)
		walk_key(f, k);
	CHECK(gguf_find_key(f, "") == -1);

	const uint8_t *base = gguf_base(f), *end = base + gguf_file_size(f);
	for (int i = 0; i < gguf_tensor_count(f); i++) {
		const struct gguf_tensor *t = gguf_tensor_at(f, i);
		CHECK(gguf_find_tensor(f, t->name) == t);
		CHECK(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
		uint64_t rows = 1;
		for (int d = 0; d < GGUF_MAX_DIMS; d++) {
			CHECK(t->ne[d] > 0);
			CHECK(d < t->n_dims || t->ne[d] == 1);
			if (d > 0)
				rows *= (uint64_t)t->ne[d];
		}
		const struct ggml_type_traits *tr = ggml_type_traits_of(t->type);
		CHECK(tr != NULL && t->ne[0] % tr->block_elems == 0);
		CHECK(t->row_bytes == (uint64_t)t->ne[0] / tr->block_elems * tr->block_bytes);
		CHECK(t->nbytes == t->row_bytes * rows);
		const uint8_t *p = t->data;
		CHECK(p >= base + gguf_data_offset(f) && p + t->nbytes <= end);
		CHECK(t->offset % a == 0);
		/* Touch the first and last byte so a wrong pointer faults here. */
		volatile uint8_t sink = p[0] ^ p[t->nbytes - 1];
		(void)sink;
	}
}

static int open_and_walk(const char *path, const uint8_t *data, size_t size, char **err)
{
	struct gguf_file *f = NULL;
	int rc = path ? gguf_open(path, &f, err) : gguf_open_buffer(data, size, "fuzz.gguf", &f,
	    err);
	if (rc == 0) {
		CHECK(f != NULL && *err == NULL);
		walk(f);
		gguf_close(f);
	} else {
		CHECK(rc == -1 && f == NULL && *err != NULL);
		CHECK(strstr(*err, path ? path : "fuzz.gguf") == *err);
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A heap copy of exactly size bytes: an overread lands in ASan's redzone. */
	uint8_t *copy = xmalloc(size);
	if (size)
		memcpy(copy, data, size);
	char *err_buf = NULL;
	int rc_buf = open_and_walk(NULL, copy, size, &err_buf);
	free(copy);

	/* The same bytes as a file, through mmap. */
	int fd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
	CHECK(fd >= 0);
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);
		CHECK(w > 0);
		done += (size_t)w;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	char *err_file = NULL;
	int rc_file = open_and_walk(path, NULL, 0, &err_file);
	close(fd);

	/* Both ways agree, down to the message after the file name. */
	CHECK(rc_buf == rc_file);
	if (rc_buf != 0)
		CHECK(strcmp(err_buf + strlen("fuzz.gguf"), err_file + strlen(path)) == 0);
	free(err_buf);
	free(err_file);
	return 0;
}

#ifdef QUIRE_FUZZ_STANDALONE
#include "tests/fuzz/standalone.h"
int main(int argc, char **argv)
{
	return fuzz_standalone_run(argc, argv, "fuzz-gguf", 1u << 28);
}
#endif
