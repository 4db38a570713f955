/* t-gguf.c: the GGUF loader reads the default model correctly and refuses hostile files (built
 * here, byte by byte) with a message naming the file, never a crash. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "tests/tap.h"

static char tmpdir[256];

/* --- a tiny GGUF writer ----------------------------------------------------------------- */

static void put_u8(struct buf *b, uint8_t v)
{
	buf_append(b, &v, 1);
}

static void put_u32(struct buf *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		put_u8(b, (uint8_t)(v >> (8 * i)));
}

static void put_u64(struct buf *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		put_u8(b, (uint8_t)(v >> (8 * i)));
}

static void put_f32(struct buf *b, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put_u32(b, u);
}

static void put_f64(struct buf *b, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	put_u64(b, u);
}

static void put_str(struct buf *b, const char *s)
{
	put_u64(b, strlen(s));
	buf_append_str(b, s);
}

static void put_key(struct buf *b, const char *key, uint32_t type)
{
	put_str(b, key);
	put_u32(b, type);
}

static void put_tensor(struct buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
    uint32_t type, uint64_t offset)
{
	put_str(b, name);
	put_u32(b, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		put_u64(b, ne[d]);
	put_u32(b, type);
	put_u64(b, offset);
}

static void pad_to(struct buf *b, size_t align)
{
	while (b->len % align != 0)
		put_u8(b, 0);
}

/* What a test file holds; the defaults make a valid file (see base_spec()). */
struct tensor_spec {
	const char *name;
	uint32_t n_dims;
	uint64_t ne[5];
	uint32_t type;
	uint64_t offset;
};

struct spec {
	const char *magic;               /* 4 bytes */
	uint32_t version;
	int n_tensors;
	struct tensor_spec t[3];
	uint64_t tensor_count_claim;     /* 0: the true count */
	uint64_t kv_count_claim;         /* 0: the true count */
	int alignment_type;              /* -1: no general.alignment key; else its value type */
	uint64_t alignment;              /* its value */
	void (*extra_kv)(struct buf *);  /* appends extra_kv_count more keys */
	int extra_kv_count;
	size_t data_bytes;               /* data section size */
};

static struct spec base_spec(void)
{
	struct spec s = {
		.magic = "GGUF",
		.version = 3,
		.n_tensors = 2,
		.t = {
			{ "a", 1, { 8 }, GGML_TYPE_F32, 0 },            /* 32 bytes */
			{ "b", 2, { 32, 2 }, GGML_TYPE_Q8_0, 32 },      /* 68 bytes */
		},
		.alignment_type = GGUF_TYPE_UINT32,
		.alignment = 32,
		.data_bytes = 100,
	};
	return s;
}

static void build(struct buf *b, const struct spec *s)
{
	buf_reset(b);
	buf_append(b, s->magic, 4);
	put_u32(b, s->version);
	put_u64(b, s->tensor_count_claim ? s->tensor_count_claim : (uint64_t)s->n_tensors);
	uint64_t n_kv = 6 + (s->alignment_type >= 0) + (uint64_t)s->extra_kv_count;
	put_u64(b, s->kv_count_claim ? s->kv_count_claim : n_kv);
	put_key(b, "general.architecture", GGUF_TYPE_STRING);
	put_str(b, "test");
	put_key(b, "test.block_count", GGUF_TYPE_UINT8);
	put_u8(b, 7);
	put_key(b, "test.neg", GGUF_TYPE_INT64);
	put_u64(b, (uint64_t)-5);
	put_key(b, "test.big", GGUF_TYPE_FLOAT64);
	put_f64(b, 1e300);
	put_key(b, "test.list", GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_UINT16);
	put_u64(b, 3);
	put_u8(b, 1), put_u8(b, 0), put_u8(b, 0xff), put_u8(b, 0xff), put_u8(b, 3), put_u8(b, 0);
	put_key(b, "test.eps", GGUF_TYPE_FLOAT32);
	put_f32(b, 1e-5f);
	if (s->alignment_type >= 0) {
		put_key(b, "general.alignment", (uint32_t)s->alignment_type);
		if (s->alignment_type == GGUF_TYPE_STRING)
			put_str(b, "32");
		else
			put_u32(b, (uint32_t)s->alignment);
	}
	if (s->extra_kv)
		s->extra_kv(b);
	for (int i = 0; i < s->n_tensors; i++)
		put_tensor(b, s->t[i].name, s->t[i].n_dims, s->t[i].ne, s->t[i].type, s->t[i].offset);
	pad_to(b, s->alignment_type == GGUF_TYPE_UINT32 && s->alignment >= 1 &&
	    s->alignment <= 4096 && (s->alignment & (s->alignment - 1)) == 0 ? s->alignment : 32);
	for (size_t i = 0; i < s->data_bytes; i++)
		put_u8(b, (uint8_t)i);
}

static char *write_tmp(const char *name, const void *data, size_t len)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || (len && fwrite(data, 1, len, fp) != len) || fclose(fp) != 0) {
		printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return path;
}

/* Open data written to a file called name: expects failure with a message that names the
 * file and contains want. */
static void expect_fail(const char *name, const struct buf *b, const char *want)
{
	char *path = write_tmp(name, b->data, b->len);
	struct gguf_file *f = (struct gguf_file *)1;
	char *err = NULL;
	int rc = gguf_open(path, &f, &err);
	int good = rc == -1 && f == NULL && err != NULL && strstr(err, path) != NULL &&
	    strstr(err, want) != NULL;
	ok(good, "%s: refused, naming the file and '%s'", name, want);
	if (!good)
		diag("rc %d, message: %s", rc, err ? err : "(none)");
	if (rc == 0)
		gguf_close(f);
	free(err);
	unlink(path);
	free(path);
}

static void expect_spec_fail(const char *name, const struct spec *s, const char *want)
{
	struct buf b = BUF_INIT;
	build(&b, s);
	expect_fail(name, &b, want);
	buf_free(&b);
}

/* --- the valid little file -------------------------------------------------------------- */

static void test_valid(void)
{
	struct spec s = base_spec();
	struct buf b = BUF_INIT;
	build(&b, &s);
	char *path = write_tmp("valid.gguf", b.data, b.len);
	struct gguf_file *f;
	char *err = NULL;
	int rc = gguf_open(path, &f, &err);
	if (!ok(rc == 0, "a valid hand-built file opens")) {
		diag("%s", err);
		free(err);
		free(path);
		buf_free(&b);
		return;
	}
	is_int(gguf_version(f), 3, "version");
	is_int(gguf_alignment(f), 32, "alignment");
	is_int((long long)gguf_file_size(f), (long long)b.len, "file size");
	is_int((long long)gguf_data_offset(f), (long long)(b.len - 100), "data offset");
	is_int(gguf_key_count(f), 7, "key count");
	is_int(gguf_tensor_count(f), 2, "tensor count");
	is_str(gguf_key_name(f, 0), "general.architecture", "first key name");
	is_int(gguf_find_key(f, "test.neg"), 2, "find key");
	is_int(gguf_find_key(f, "test.nope"), -1, "absent key");

	const char *str;
	size_t len;
	ok(gguf_get_str(f, "general.architecture", &str, &len, &err) == 0 && len == 4 &&
	    memcmp(str, "test", 4) == 0, "string value");
	uint32_t u32 = 99;
	ok(gguf_get_u32(f, "test.block_count", &u32, &err) == 0 && u32 == 7, "u8 read as u32");
	u32 = 99;
	ok(gguf_get_u32(f, "test.absent", &u32, &err) == 1 && u32 == 99, "absent key keeps default");
	int32_t i32 = 0;
	ok(gguf_get_i32(f, "test.neg", &i32, &err) == 0 && i32 == -5, "i64 -5 read as i32");
	rc = gguf_get_u32(f, "test.neg", &u32, &err);
	ok(rc == -1 && strstr(err, path) && strstr(err, "test.neg") && strstr(err, "does not fit"),
	    "negative value refused for u32, naming file and key");
	rc = gguf_get_u32(f, "general.architecture", &u32, &err);
	ok(rc == -1 && strstr(err, path) && strstr(err, "'general.architecture' has type str"),
	    "type mismatch names file, key and type");
	float f32 = 0;
	rc = gguf_get_f32(f, "test.big", &f32, &err);
	ok(rc == -1 && strstr(err, "out of the range of f32"), "f64 1e300 refused as f32");
	ok(gguf_get_f32(f, "test.eps", &f32, &err) == 0 && f32 == 1e-5f, "f32 value");
	double f64 = 0;
	ok(gguf_get_f64(f, "test.big", &f64, &err) == 0 && f64 == 1e300, "f64 read as f64");
	rc = gguf_need_u32(f, "test.absent", &u32, &err);
	ok(rc == -1 && strstr(err, path) && strstr(err, "missing key 'test.absent'"),
	    "need_u32 on an absent key is an error");
	char *dup = NULL;
	ok(gguf_get_strdup(f, "general.architecture", &dup, &err) == 0 && dup &&
	    strcmp(dup, "test") == 0, "strdup");
	free(dup);

	int li = gguf_find_key(f, "test.list");
	enum gguf_type et;
	uint64_t n;
	ok(gguf_get_arr(f, li, &et, &n, &err) == 0 && et == GGUF_TYPE_UINT16 && n == 3,
	    "array type and length");
	int32_t ia[3] = { 0 };
	ok(gguf_get_arr_i32(f, li, ia, 3, &err) == 0 && ia[0] == 1 && ia[1] == 65535 && ia[2] == 3,
	    "u16 array copied as i32");
	rc = gguf_get_arr_i32(f, li, ia, 4, &err);
	ok(rc == -1 && strstr(err, "asked for 4 elements"), "copying past the array is refused");
	float fa[3];
	rc = gguf_get_arr_f32(f, li, fa, 3, &err);
	ok(rc == -1 && strstr(err, "array of u16"), "u16 array refused as f32");
	rc = gguf_get_arr_str(f, li, 0, &str, &len, &err);
	ok(rc == -1 && strstr(err, path) && strstr(err, "test.list"), "u16 array refused as str");
	rc = gguf_get_arr(f, gguf_find_key(f, "test.neg"), &et, &n, &err);
	ok(rc == -1 && strstr(err, "'test.neg' has type i64, expected arr"), "scalar is not an array");

	char *r = gguf_render_value(f, li, 0);
	is_str(r, "[1, 65535, 3]", "render array");
	free(r);
	r = gguf_render_value(f, 0, 0);
	is_str(r, "\"test\"", "render string");
	free(r);
	r = gguf_render_value(f, 2, 0);
	is_str(r, "-5", "render negative");
	free(r);

	const struct gguf_tensor *t = gguf_find_tensor(f, "b");
	ok(t != NULL && t == gguf_tensor_at(f, 1), "find tensor");
	ok(t && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 1,
	    "tensor shape");
	ok(t && t->type == GGML_TYPE_Q8_0 && t->nbytes == 68 && t->row_bytes == 34, "tensor size");
	ok(t && t->offset == 32 && (const uint8_t *)t->data ==
	    (const uint8_t *)gguf_base(f) + gguf_data_offset(f) + 32, "tensor data pointer");
	ok(t && ((const uint8_t *)t->data)[0] == 32, "tensor data bytes");
	ok(gguf_find_tensor(f, "c") == NULL, "absent tensor");
	ok(((uintptr_t)gguf_tensor_at(f, 0)->data % 32) == 0, "data aligned in memory");
	gguf_close(f);
	free(err);
	err = NULL;

	/* No general.alignment: the default is 32. */
	s.alignment_type = -1;
	build(&b, &s);
	rc = gguf_open_buffer(b.data, b.len, "noalign", &f, &err);
	ok(rc == 0 && gguf_alignment(f) == 32, "default alignment 32");
	if (rc == 0)
		gguf_close(f);
	free(err);
	err = NULL;

	/* Version 2 reads the same. */
	s = base_spec();
	s.version = 2;
	build(&b, &s);
	rc = gguf_open_buffer(b.data, b.len, "v2", &f, &err);
	ok(rc == 0 && gguf_version(f) == 2, "version 2 opens");
	if (rc == 0)
		gguf_close(f);
	free(err);
	err = NULL;

	/* Every truncation of the valid file fails cleanly (through the buffer entry point). */
	s = base_spec();
	build(&b, &s);
	int all = 1;
	for (size_t cut = 0; cut < b.len; cut++) {
		rc = gguf_open_buffer(b.data, cut, "cut.gguf", &f, &err);
		if (rc != -1 || err == NULL || strstr(err, "cut.gguf") == NULL) {
			all = 0;
			diag("truncated at %zu: rc %d %s", cut, rc, err ? err : "");
			if (rc == 0)
				gguf_close(f);
		}
		free(err);
		err = NULL;
	}
	ok(all, "all %zu truncations of the valid file are refused", b.len);

	/* Set each header byte to 0xff: some changes are harmless (a value), most are not; either
	 * way the answer is a handle or -1 with a message, never a crash. */
	size_t hdr = b.len - 100;
	int sane = 1, refused = 0;
	for (size_t i = 0; i < hdr; i++) {
		char save = b.data[i];
		b.data[i] = (char)0xff;
		f = NULL;
		rc = gguf_open_buffer(b.data, b.len, "flip.gguf", &f, &err);
		if (rc == 0 && f != NULL && err == NULL) {
			for (int k = 0; k < gguf_key_count(f); k++)
				free(gguf_render_value(f, k, 80));
			gguf_close(f);
		} else if (rc == -1 && f == NULL && err != NULL && strncmp(err, "flip.gguf: ", 11) == 0) {
			refused++;
		} else {
			sane = 0;
			diag("byte %zu: rc %d, %s", i, rc, err ? err : "(no message)");
		}
		free(err);
		err = NULL;
		b.data[i] = save;
	}
	ok(sane && refused > (int)hdr / 2, "0xff at each of %zu header bytes: %d refused, the rest "
	    "open", hdr, refused);
	unlink(path);
	free(path);
	buf_free(&b);
}

/* --- hostile files ---------------------------------------------------------------------- */

static void kv_str_past_eof(struct buf *b)
{
	put_key(b, "x.s", GGUF_TYPE_STRING);
	put_u64(b, 1ull << 40);
}

static void kv_arr_overflow(struct buf *b)
{
	put_key(b, "x.a", GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_UINT64);
	put_u64(b, (1ull << 61) + 1);   /* times 8 bytes wraps 64 bits */
}

static void kv_arr_str_huge(struct buf *b)
{
	put_key(b, "x.a", GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_STRING);
	put_u64(b, UINT64_MAX);
}

static void kv_arr_elem_past_eof(struct buf *b)
{
	put_key(b, "x.a", GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_STRING);
	put_u64(b, 2);
	put_str(b, "ok");
	put_u64(b, 1ull << 33);
}

static void kv_nested(struct buf *b)
{
	put_key(b, "x.a", GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_ARRAY);
	put_u64(b, 1);
	put_u32(b, GGUF_TYPE_UINT8);
	put_u64(b, 1);
	put_u8(b, 0);
}

static void kv_dup(struct buf *b)
{
	put_key(b, "test.neg", GGUF_TYPE_UINT8);
	put_u8(b, 1);
}

static void kv_bad_type(struct buf *b)
{
	put_key(b, "x.t", 13);
	put_u8(b, 1);
}

static void kv_bad_elem_type(struct buf *b)
{
	put_key(b, "x.t", GGUF_TYPE_ARRAY);
	put_u32(b, 0x7fffffff);
	put_u64(b, 0);
}

static void kv_bad_bool(struct buf *b)
{
	put_key(b, "x.b", GGUF_TYPE_BOOL);
	put_u8(b, 2);
}

static void kv_empty_key(struct buf *b)
{
	put_key(b, "", GGUF_TYPE_UINT8);
	put_u8(b, 1);
}

static void kv_key_with_nul(struct buf *b)
{
	put_u64(b, 3);
	buf_append(b, "a\0b", 3);
	put_u32(b, GGUF_TYPE_UINT8);
	put_u8(b, 1);
}

static void kv_long_key(struct buf *b)
{
	put_u64(b, 65536);
	for (int i = 0; i < 65536; i++)
		put_u8(b, 'k');
	put_u32(b, GGUF_TYPE_UINT8);
	put_u8(b, 1);
}

static void test_hostile(void)
{
	struct spec s = base_spec();
	s.magic = "GGUX";
	expect_spec_fail("magic.gguf", &s, "not a GGUF file");

	s = base_spec();
	s.version = 1;
	expect_spec_fail("v1.gguf", &s, "unsupported GGUF version 1");
	s.version = 4;
	expect_spec_fail("v4.gguf", &s, "unsupported GGUF version 4");
	s.version = 0x03000000;
	expect_spec_fail("bigendian.gguf", &s, "big-endian");

	s = base_spec();
	s.kv_count_claim = 1ull << 60;
	expect_spec_fail("kvcount.gguf", &s, "key count 1152921504606846976 is impossible");
	s = base_spec();
	s.kv_count_claim = 8;   /* one more than there are: the tensor infos parse as keys */
	expect_spec_fail("kvcount7.gguf", &s, "tensor #0: empty tensor name");
	s = base_spec();
	s.tensor_count_claim = UINT64_MAX;
	expect_spec_fail("tcount.gguf", &s, "tensor count 18446744073709551615 is impossible");
	s = base_spec();
	s.tensor_count_claim = 3;
	expect_spec_fail("tcount3.gguf", &s, "tensor #2");

	struct { const char *file; void (*fn)(struct buf *); const char *want; } kvs[] = {
		{ "strlen.gguf", kv_str_past_eof, "key 'x.s': string value length 1099511627776" },
		{ "arrlen.gguf", kv_arr_overflow, "key 'x.a': array of 2305843009213693953 u64" },
		{ "arrstr.gguf", kv_arr_str_huge, "key 'x.a': array of 18446744073709551615 str" },
		{ "arrelem.gguf", kv_arr_elem_past_eof, "key 'x.a': string element length" },
		{ "nested.gguf", kv_nested, "key 'x.a': arrays of arrays are not supported" },
		{ "dupkey.gguf", kv_dup, "key 'test.neg' appears more than once" },
		{ "kvtype.gguf", kv_bad_type, "key 'x.t': unknown value type 13" },
		{ "elemtype.gguf", kv_bad_elem_type, "unknown array element type 2147483647" },
		{ "bool.gguf", kv_bad_bool, "key 'x.b': bool value 2" },
		{ "emptykey.gguf", kv_empty_key, "empty key name" },
		{ "nulkey.gguf", kv_key_with_nul, "control byte 0x00" },
		{ "longkey.gguf", kv_long_key, "key #7: key name at byte 249 is 65536 bytes long" },
	};
	for (size_t i = 0; i < Q_ARRAY_LEN(kvs); i++) {
		s = base_spec();
		s.extra_kv = kvs[i].fn;
		s.extra_kv_count = 1;
		expect_spec_fail(kvs[i].file, &s, kvs[i].want);
	}

	s = base_spec();
	s.t[0].n_dims = 0;
	expect_spec_fail("ndims0.gguf", &s, "tensor 'a': 0 dimensions");
	s = base_spec();
	s.t[0].n_dims = 5;
	s.t[0].ne[1] = s.t[0].ne[2] = s.t[0].ne[3] = s.t[0].ne[4] = 1;
	expect_spec_fail("ndims5.gguf", &s, "tensor 'a': 5 dimensions");
	s = base_spec();
	s.t[1].ne[1] = 0;
	expect_spec_fail("dim0.gguf", &s, "tensor 'b': dimension 1 is 0");
	s = base_spec();
	s.t[0].n_dims = 3;
	s.t[0].ne[0] = 1ull << 32, s.t[0].ne[1] = 1ull << 31, s.t[0].ne[2] = 4;
	expect_spec_fail("nelem.gguf", &s, "tensor 'a': element count overflows");
	s = base_spec();
	s.t[0].ne[0] = 1ull << 63;
	expect_spec_fail("dimhuge.gguf", &s, "tensor 'a': dimension 0 is 9223372036854775808");
	s = base_spec();
	s.t[0].n_dims = 2;
	s.t[0].ne[0] = 1ull << 62, s.t[0].ne[1] = 1;   /* 2^64 bytes of f32 */
	expect_spec_fail("nbytes.gguf", &s, "tensor 'a': byte size overflows");
	s = base_spec();
	s.t[1].ne[0] = 33;
	expect_spec_fail("block.gguf", &s, "tensor 'b': row length 33 is not a multiple of the q8_0");
	s = base_spec();
	s.t[0].type = 4;   /* a retired ggml type id */
	expect_spec_fail("type4.gguf", &s, "tensor 'a': unknown tensor type id 4");
	s.t[0].type = 1000;
	expect_spec_fail("type1000.gguf", &s, "tensor 'a': unknown tensor type id 1000");
	s = base_spec();
	s.t[1].offset = 1ull << 20;
	expect_spec_fail("offset.gguf", &s, "tensor 'b': data ends at byte");
	s = base_spec();
	s.t[1].offset = UINT64_MAX - 31;
	expect_spec_fail("offsetwrap.gguf", &s, "tensor 'b': data end overflows");
	s = base_spec();
	s.t[1].offset = 36;
	expect_spec_fail("unaligned.gguf", &s, "tensor 'b': data offset 36");
	s = base_spec();
	s.data_bytes = 99;
	expect_spec_fail("short.gguf", &s, "past the end of the file");
	s = base_spec();
	s.t[1].offset = 0;
	expect_spec_fail("overlap.gguf", &s, "overlap");
	s = base_spec();
	s.t[1].name = "a";
	expect_spec_fail("duptensor.gguf", &s, "tensor 'a' appears more than once");
	s = base_spec();
	s.t[1].name = "";
	expect_spec_fail("emptyname.gguf", &s, "tensor #1: empty tensor name");
	char *long_name = xmalloc(4098);
	memset(long_name, 'n', 4097);
	long_name[4097] = '\0';
	s.t[1].name = long_name;
	expect_spec_fail("longname.gguf", &s, "is 4097 bytes long (at most 4096)");
	free(long_name);

	s = base_spec();
	s.alignment = 0;
	expect_spec_fail("align0.gguf", &s, "'general.alignment' is 0");
	s.alignment = 3;
	expect_spec_fail("align3.gguf", &s, "'general.alignment' is 3");
	s.alignment = 1u << 31;
	expect_spec_fail("align31.gguf", &s, "'general.alignment' is 2147483648");
	s.alignment_type = GGUF_TYPE_STRING;
	expect_spec_fail("alignstr.gguf", &s, "'general.alignment' has type str");

	struct buf b = BUF_INIT;
	expect_fail("empty.gguf", &b, "too small");
	buf_append_str(&b, "GGUF");
	expect_fail("magiconly.gguf", &b, "too small");
	put_u32(&b, 3);
	put_u64(&b, 0);
	put_u64(&b, 0);
	{
		/* The smallest valid file: no keys, no tensors. */
		struct gguf_file *f;
		char *err = NULL;
		int rc = gguf_open_buffer(b.data, b.len, "min.gguf", &f, &err);
		ok(rc == 0 && gguf_key_count(f) == 0 && gguf_tensor_count(f) == 0,
		    "an empty GGUF (no keys, no tensors) opens");
		if (rc == 0)
			gguf_close(f);
		free(err);
	}
	buf_free(&b);

	struct gguf_file *f = NULL;
	char *err = NULL;
	char *missing = xasprintf("%s/does-not-exist.gguf", tmpdir);
	ok(gguf_open(missing, &f, &err) == -1 && err && strstr(err, missing),
	    "a missing file is an error naming it");
	free(missing);
	free(err);
	err = NULL;
	ok(gguf_open(tmpdir, &f, &err) == -1 && err && strstr(err, "not a regular file"),
	    "a directory is refused");
	/* A FIFO without a writer must be refused at once, not block the open. */
	char *fifo = xasprintf("%s/fifo.gguf", tmpdir);
	ok(mkfifo(fifo, 0600) == 0 && gguf_open(fifo, &f, &err) == -1 &&
	    strstr(err, fifo) && strstr(err, "not a regular file"), "a FIFO is refused");
	unlink(fifo);
	free(fifo);
	free(err);
}

/* --- the default model ------------------------------------------------------------------ */

#define MODEL_TESTS 21

static void test_model(void)
{
	const char *model = getenv("QUIRE_TEST_MODEL");
	if (model == NULL || model[0] == '\0' || access(model, R_OK) != 0) {
		skip(MODEL_TESTS, "QUIRE_TEST_MODEL unset or unreadable");
		return;
	}
	struct gguf_file *f;
	char *err = NULL;
	if (!ok(gguf_open(model, &f, &err) == 0, "the default model opens")) {
		diag("%s", err);
		free(err);
		skip(MODEL_TESTS - 1, "model did not open");
		return;
	}
	const char *s;
	size_t len;
	ok(gguf_get_str(f, "general.architecture", &s, &len, &err) == 0 && len == 5 &&
	    memcmp(s, "llama", 5) == 0, "architecture is llama");
	is_int(gguf_tensor_count(f), 272, "272 tensors");
	const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
	ok(t != NULL && t->type == GGML_TYPE_Q8_0, "token_embd.weight is q8_0");
	ok(t != NULL && t->n_dims == 2 && t->ne[0] == 576 && t->ne[1] == 49152,
	    "token_embd.weight is {576, 49152}");
	ok(t != NULL && t->nbytes == 576ull / 32 * 34 * 49152, "token_embd.weight byte size");
	t = gguf_find_tensor(f, "blk.29.ffn_down.weight");
	ok(t != NULL && t->type == GGML_TYPE_Q4_1 && t->ne[0] == 1536 && t->ne[1] == 576,
	    "blk.29.ffn_down.weight is q4_1 {1536, 576}");
	t = gguf_find_tensor(f, "output_norm.weight");
	ok(t != NULL && t->type == GGML_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 576,
	    "output_norm.weight is f32 {576}");
	uint32_t u = 0;
	ok(gguf_get_u32(f, "llama.block_count", &u, &err) == 0 && u == 30, "llama.block_count 30");
	ok(gguf_get_u32(f, "llama.attention.head_count_kv", &u, &err) == 0 && u == 3,
	    "head_count_kv 3");
	float fb = 0;
	ok(gguf_get_f32(f, "llama.rope.freq_base", &fb, &err) == 0 && fb == 100000.0f,
	    "rope freq base 100000");
	int ti = gguf_find_key(f, "tokenizer.ggml.tokens");
	enum gguf_type et = GGUF_TYPE_COUNT_;
	uint64_t n = 0;
	ok(ti >= 0 && gguf_get_arr(f, ti, &et, &n, &err) == 0 && et == GGUF_TYPE_STRING &&
	    n == 49152, "tokenizer.ggml.tokens: 49152 strings");
	ok(ti >= 0 && gguf_get_arr_str(f, ti, 0, &s, &len, &err) == 0 && len == 13 &&
	    memcmp(s, "<|endoftext|>", 13) == 0, "token 0 is <|endoftext|>");
	ok(ti >= 0 && gguf_get_arr_str(f, ti, 49151, &s, &len, &err) == 0 && len > 0,
	    "last token readable");
	ok(ti >= 0 && gguf_get_arr_str(f, ti, 49152, &s, &len, &err) == -1 &&
	    strstr(err, "element 49152 is past the end"), "token 49152 is out of range");
	int mi = gguf_find_key(f, "tokenizer.ggml.merges");
	ok(mi >= 0 && gguf_get_arr(f, mi, &et, &n, &err) == 0 && et == GGUF_TYPE_STRING &&
	    n == 48900, "tokenizer.ggml.merges: 48900 strings");
	int tti = gguf_find_key(f, "tokenizer.ggml.token_type");
	int32_t *types = xcalloc(49152, sizeof *types);
	ok(tti >= 0 && gguf_get_arr_i32(f, tti, types, 49152, &err) == 0 && types[0] == 3 &&
	    types[100] == 1, "token types copied out");
	free(types);
	char *r = gguf_render_value(f, ti, 60);
	ok(strstr(r, "\"<|endoftext|>\"") == r + 1 && strstr(r, "(49152 items)]") != NULL,
	    "tokens rendered abbreviated");
	free(r);

	/* Every tensor lies inside the file, the data section starts aligned. */
	uint64_t max_end = 0;
	int inside = 1;
	for (int i = 0; i < gguf_tensor_count(f); i++) {
		t = gguf_tensor_at(f, i);
		uint64_t end = gguf_data_offset(f) + t->offset + t->nbytes;
		inside &= end <= gguf_file_size(f);
		max_end = end > max_end ? end : max_end;
	}
	ok(inside && gguf_data_offset(f) % gguf_alignment(f) == 0, "tensors lie inside the file");

	/* Truncations: at every 4 KiB boundary of the header and metadata, and a few in the data
	 * section. One temp file holds the header; ftruncate shrinks it or extends it sparsely. */
	uint64_t data_off = gguf_data_offset(f);
	const uint8_t *base = gguf_base(f);
	char *path = write_tmp("trunc.gguf", base, (size_t)data_off);
	int fd = open(path, O_RDWR);
	int all = fd >= 0, count = 0;
	uint64_t cuts[] = { max_end - 1, max_end - 4096, data_off + 1, data_off + 12345678,
		(data_off + max_end) / 2 };
	for (size_t i = 0; all && i < Q_ARRAY_LEN(cuts); i++) {
		struct gguf_file *g;
		if (ftruncate(fd, (off_t)cuts[i]) != 0)
			all = 0;
		int rc = gguf_open(path, &g, &err);
		count++;
		if (rc != -1 || strstr(err, path) == NULL || strstr(err, "past the end") == NULL) {
			all = 0;
			diag("truncated at %llu: rc %d %s", (unsigned long long)cuts[i], rc, err);
		}
		if (rc == 0)
			gguf_close(g);
	}
	for (uint64_t cut = data_off / 4096 * 4096;; cut -= 4096) {
		struct gguf_file *g;
		if (ftruncate(fd, (off_t)cut) != 0)
			all = 0;
		int rc = gguf_open(path, &g, &err);
		count++;
		if (rc != -1 || strstr(err, path) == NULL) {
			all = 0;
			diag("truncated at %llu: rc %d %s", (unsigned long long)cut, rc, err);
		}
		if (rc == 0)
			gguf_close(g);
		if (cut == 0)
			break;
	}
	ok(all, "%d truncations of the model are refused with the file named", count);
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(path);

	/* The same header with the data present (sparse) opens, so the cuts above were the cause. */
	path = write_tmp("sparse.gguf", base, (size_t)data_off);
	struct gguf_file *g = NULL;
	ok(truncate(path, (off_t)max_end) == 0 && gguf_open(path, &g, &err) == 0,
	    "the header with a full-length data section opens");
	gguf_close(g);
	unlink(path);
	free(path);
	gguf_close(f);
	free(err);
}

int main(void)
{
	if (tap_tmpdir("t-gguf", tmpdir, sizeof tmpdir) != 0) {
		printf("Bail out! mkdtemp %s: %s\n", tmpdir, strerror(errno));
		return 1;
	}
	test_valid();
	test_hostile();
	test_model();
	rmdir(tmpdir);
	done_testing();
	return exit_status();
}
