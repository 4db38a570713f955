/* gguf.c: maps a GGUF v2/v3 file and validates its whole header before anyone trusts a byte. */
#include "engine/gguf.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/file.h"
#include "lib/util.h"

/* Far above any real model (a few hundred keys, tens of thousands of tensors), low enough that
 * indices fit an int and hash tables stay small. */
#define MAX_COUNT (1u << 24)
#define MAX_KEY_LEN 65535    /* the GGUF spec's limit on key names */
#define MAX_NAME_LEN 4096    /* tensor names; ggml itself allows 63 bytes */
#define CTX_NAME_LEN 256     /* of a key or tensor name quoted in a parse message */
#define CTX_LEN (CTX_NAME_LEN + 32)

struct gguf_kv {
	char *key;                /* NUL-terminated copy */
	enum gguf_type type;      /* value type */
	enum gguf_type elem_type; /* arrays: element type */
	uint64_t n;               /* arrays: element count; strings: byte length */
	uint64_t pos;             /* file offset of the value (strings: of the first byte, after
	                           * the length; arrays: of the first element) */
	uint64_t *str_pos;        /* string arrays: file offset of each element's length field */
};

struct gguf_file {
	char *path;               /* as given, for messages */
	const uint8_t *base;      /* the file's bytes */
	uint64_t size;            /* file size */
	int mapped;               /* 1 if base is our mmap, 0 if the caller's buffer */
	uint32_t version;         /* 2 or 3 */
	uint32_t alignment;       /* of the data section and every tensor offset */
	uint64_t data_off;        /* file offset of the data section */
	int n_kv;                 /* keys */
	struct gguf_kv *kv;       /* n_kv entries in file order */
	int n_tensors;            /* tensors */
	struct gguf_tensor *tensors;   /* n_tensors entries in file order */
	int *key_hash;            /* open addressing, key index + 1, 0 = empty */
	int *tensor_hash;         /* same for tensor names */
	uint32_t key_hash_mask;   /* table size - 1 */
	uint32_t tensor_hash_mask;
};

/* --- little-endian reads from the mapping (positions are checked by the caller) ---------- */

static uint64_t le_read(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static float le_f32(const uint8_t *p)
{
	uint32_t u = (uint32_t)le_read(p, 4);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static double le_f64(const uint8_t *p)
{
	uint64_t u = le_read(p, 8);
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

/* Bytes one value of a fixed-size type takes; 0 for strings and arrays. */
static int type_size(enum gguf_type t)
{
	switch (t) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
	case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
	case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
	case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
	default: return 0;
	}
}

static int type_is_int(enum gguf_type t)
{
	return type_size(t) > 0 && t != GGUF_TYPE_BOOL && t != GGUF_TYPE_FLOAT32 &&
	    t != GGUF_TYPE_FLOAT64;
}

const char *gguf_type_name(enum gguf_type t)
{
	static const char *const names[GGUF_TYPE_COUNT_] = {
		"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64",
		"f64",
	};
	if ((unsigned)t >= GGUF_TYPE_COUNT_)
		return "?";
	return names[t];
}

/* --- hashing of names (keys and tensor names) ------------------------------------------- */

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static uint32_t hash_size_for(int n)
{
	uint32_t cap = 16;
	while (cap < 2u * (uint32_t)n)
		cap <<= 1;
	return cap;
}

/* Find name in a table; returns the index or -1. name_of gives the name of an index. */
static int hash_find(const int *table, uint32_t mask, const char *name,
    const char *(*name_of)(const struct gguf_file *, int), const struct gguf_file *f)
{
	if (table == NULL)
		return -1;
	for (uint32_t i = (uint32_t)hash_name(name) & mask;; i = (i + 1) & mask) {
		if (table[i] == 0)
			return -1;
		if (strcmp(name_of(f, table[i] - 1), name) == 0)
			return table[i] - 1;
	}
}

static void hash_put(int *table, uint32_t mask, const char *name, int idx)
{
	uint32_t i = (uint32_t)hash_name(name) & mask;
	while (table[i] != 0)
		i = (i + 1) & mask;
	table[i] = idx + 1;
}

static const char *kv_name_of(const struct gguf_file *f, int i)
{
	return f->kv[i].key;
}

static const char *tensor_name_of(const struct gguf_file *f, int i)
{
	return f->tensors[i].name;
}

/* --- the parser ------------------------------------------------------------------------- */

struct cursor {
	struct gguf_file *f;      /* being built */
	uint64_t pos;             /* next byte to read */
	char **err;               /* for messages */
};

/* Fails unless n more bytes are there; what says what we were reading. */
static int need(struct cursor *c, uint64_t n, const char *what, const char *ctx)
{
	if (n > c->f->size - c->pos)
		return q_error(c->err, "%s: %s%s%s at byte %llu runs past the end of the file "
		    "(%llu bytes)", c->f->path, ctx, ctx[0] ? ": " : "", what,
		    (unsigned long long)c->pos, (unsigned long long)c->f->size);
	return 0;
}

static int read_u32(struct cursor *c, uint32_t *v, const char *what, const char *ctx)
{
	if (need(c, 4, what, ctx) != 0)
		return -1;
	*v = (uint32_t)le_read(c->f->base + c->pos, 4);
	c->pos += 4;
	return 0;
}

static int read_u64(struct cursor *c, uint64_t *v, const char *what, const char *ctx)
{
	if (need(c, 8, what, ctx) != 0)
		return -1;
	*v = le_read(c->f->base + c->pos, 8);
	c->pos += 8;
	return 0;
}

/* Read a string header and skip its bytes: *pos is where the bytes start, *len their count. */
static int read_str(struct cursor *c, uint64_t *pos, uint64_t *len, const char *what,
    const char *ctx)
{
	if (read_u64(c, len, what, ctx) != 0)
		return -1;
	if (*len > c->f->size - c->pos)
		return q_error(c->err, "%s: %s%s%s length %llu at byte %llu runs past the end of "
		    "the file (%llu bytes)", c->f->path, ctx, ctx[0] ? ": " : "", what,
		    (unsigned long long)*len, (unsigned long long)(c->pos - 8),
		    (unsigned long long)c->f->size);
	*pos = c->pos;
	c->pos += *len;
	return 0;
}

/* A key or tensor name: 1..max bytes, no NUL or control bytes (they end up in messages). */
static int read_name(struct cursor *c, uint64_t max, char **out, const char *what,
    const char *ctx)
{
	uint64_t pos, len;
	if (read_str(c, &pos, &len, what, ctx) != 0)
		return -1;
	if (len == 0)
		return q_error(c->err, "%s: %s: empty %s at byte %llu", c->f->path, ctx, what,
		    (unsigned long long)(pos - 8));
	if (len > max)
		return q_error(c->err, "%s: %s: %s at byte %llu is %llu bytes long (at most %llu)",
		    c->f->path, ctx, what, (unsigned long long)(pos - 8), (unsigned long long)len,
		    (unsigned long long)max);
	const uint8_t *p = c->f->base + pos;
	for (uint64_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return q_error(c->err, "%s: %s: %s at byte %llu holds control byte 0x%02x",
			    c->f->path, ctx, what, (unsigned long long)(pos - 8), p[i]);
	*out = xstrndup((const char *)p, (size_t)len);
	return 0;
}

static int read_value_type(struct cursor *c, enum gguf_type *t, const char *what,
    const char *ctx)
{
	uint32_t v;
	uint64_t at = c->pos;
	if (read_u32(c, &v, what, ctx) != 0)
		return -1;
	if (v >= GGUF_TYPE_COUNT_)
		return q_error(c->err, "%s: %s: unknown %s %u at byte %llu", c->f->path, ctx, what,
		    v, (unsigned long long)at);
	*t = (enum gguf_type)v;
	return 0;
}

static int check_bools(struct cursor *c, uint64_t pos, uint64_t n, const char *ctx)
{
	const uint8_t *p = c->f->base + pos;
	for (uint64_t i = 0; i < n; i++)
		if (p[i] > 1)
			return q_error(c->err, "%s: %s: bool value %u at byte %llu is neither 0 nor 1",
			    c->f->path, ctx, p[i], (unsigned long long)(pos + i));
	return 0;
}

static int parse_value(struct cursor *c, struct gguf_kv *kv, const char *ctx)
{
	if (kv->type == GGUF_TYPE_STRING)
		return read_str(c, &kv->pos, &kv->n, "string value", ctx);
	if (kv->type != GGUF_TYPE_ARRAY) {
		int sz = type_size(kv->type);
		if (need(c, (uint64_t)sz, "value", ctx) != 0)
			return -1;
		kv->pos = c->pos;
		c->pos += (uint64_t)sz;
		return kv->type == GGUF_TYPE_BOOL ? check_bools(c, kv->pos, 1, ctx) : 0;
	}
	uint64_t at = c->pos;
	if (read_value_type(c, &kv->elem_type, "array element type", ctx) != 0)
		return -1;
	if (kv->elem_type == GGUF_TYPE_ARRAY)
		return q_error(c->err, "%s: %s: arrays of arrays are not supported (byte %llu)",
		    c->f->path, ctx, (unsigned long long)at);
	if (read_u64(c, &kv->n, "array length", ctx) != 0)
		return -1;
	/* Every element takes at least its fixed size, or 8 bytes for a string's length. */
	int esz = type_size(kv->elem_type);
	uint64_t min_bytes = esz > 0 ? (uint64_t)esz : 8;
	uint64_t left = c->f->size - c->pos;
	if (kv->n > left / min_bytes)
		return q_error(c->err, "%s: %s: array of %llu %s elements at byte %llu runs past the "
		    "end of the file (%llu bytes)", c->f->path, ctx, (unsigned long long)kv->n,
		    gguf_type_name(kv->elem_type), (unsigned long long)(c->pos - 8),
		    (unsigned long long)c->f->size);
	kv->pos = c->pos;
	if (esz > 0) {
		c->pos += kv->n * (uint64_t)esz;
		return kv->elem_type == GGUF_TYPE_BOOL ? check_bools(c, kv->pos, kv->n, ctx) : 0;
	}
	kv->str_pos = xreallocarray(NULL, kv->n ? (size_t)kv->n : 1, sizeof *kv->str_pos);
	for (uint64_t i = 0; i < kv->n; i++) {
		uint64_t pos, len;
		kv->str_pos[i] = c->pos;
		if (read_str(c, &pos, &len, "string element", ctx) != 0)
			return -1;
	}
	return 0;
}

/* The integer of type t at pos as sign and magnitude: 0, or -1 if t is not an integer type. */
static int kv_int(const struct gguf_file *f, uint64_t pos, enum gguf_type t, int *neg,
    uint64_t *mag)
{
	if (!type_is_int(t))
		return -1;
	const uint8_t *p = f->base + pos;
	int sz = type_size(t);
	uint64_t u = le_read(p, sz);
	int is_signed = t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
	    t == GGUF_TYPE_INT64;
	*neg = 0;
	if (is_signed && (u >> (8 * sz - 1)) & 1) {
		/* Two's complement magnitude without signed overflow. */
		uint64_t mask = sz == 8 ? ~0ull : ((1ull << (8 * sz)) - 1);
		*neg = 1;
		u = ((~u) & mask) + 1;
	}
	*mag = u;
	return 0;
}

static int parse_alignment(struct cursor *c)
{
	struct gguf_file *f = c->f;
	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	int i = gguf_find_key(f, "general.alignment");
	if (i < 0)
		return 0;
	struct gguf_kv *kv = &f->kv[i];
	int neg;
	uint64_t mag;
	if (kv_int(f, kv->pos, kv->type, &neg, &mag) != 0)
		return q_error(c->err, "%s: key 'general.alignment' has type %s, not an integer",
		    f->path, gguf_type_name(kv->type));
	if (neg || mag == 0 || mag > (1u << 30) || (mag & (mag - 1)) != 0)
		return q_error(c->err, "%s: key 'general.alignment' is %s%llu, not a power of two "
		    "between 1 and 2^30", f->path, neg ? "-" : "", (unsigned long long)mag);
	f->alignment = (uint32_t)mag;
	return 0;
}

static int parse_tensor_info(struct cursor *c, struct gguf_tensor *t, int idx)
{
	struct gguf_file *f = c->f;
	char ctx[CTX_LEN];
	snprintf(ctx, sizeof ctx, "tensor #%d", idx);
	char *name = NULL;
	if (read_name(c, MAX_NAME_LEN, &name, "tensor name", ctx) != 0)
		return -1;
	t->name = name;
	snprintf(ctx, sizeof ctx, "tensor '%.*s'", CTX_NAME_LEN, name);

	uint32_t n_dims;
	uint64_t at = c->pos;
	if (read_u32(c, &n_dims, "dimension count", ctx) != 0)
		return -1;
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return q_error(c->err, "%s: %s: %u dimensions at byte %llu (must be 1 to %d)",
		    f->path, ctx, n_dims, (unsigned long long)at, GGUF_MAX_DIMS);
	t->n_dims = (int)n_dims;
	uint64_t n_elems = 1;
	for (int d = 0; d < GGUF_MAX_DIMS; d++) {
		uint64_t ne = 1;
		at = c->pos;
		if (d < t->n_dims && read_u64(c, &ne, "dimension", ctx) != 0)
			return -1;
		if (ne == 0 || ne > (uint64_t)INT64_MAX)
			return q_error(c->err, "%s: %s: dimension %d is %llu at byte %llu (must be 1 to "
			    "2^63-1)", f->path, ctx, d, (unsigned long long)ne, (unsigned long long)at);
		if (q_mul_u64(n_elems, ne, &n_elems) != 0 || n_elems > (uint64_t)INT64_MAX)
			return q_error(c->err, "%s: %s: element count overflows 63 bits", f->path, ctx);
		t->ne[d] = (int64_t)ne;
	}

	uint32_t type_id;
	at = c->pos;
	if (read_u32(c, &type_id, "type", ctx) != 0)
		return -1;
	const struct ggml_type_traits *tr = ggml_type_traits_of(type_id);
	if (tr == NULL)
		return q_error(c->err, "%s: %s: unknown tensor type id %u at byte %llu", f->path, ctx,
		    type_id, (unsigned long long)at);
	t->type = (enum ggml_type)type_id;
	if ((uint64_t)t->ne[0] % tr->block_elems != 0)
		return q_error(c->err, "%s: %s: row length %lld is not a multiple of the %s block "
		    "size %u", f->path, ctx, (long long)t->ne[0], tr->name, tr->block_elems);
	uint64_t rows = n_elems / (uint64_t)t->ne[0];
	if (q_mul_u64((uint64_t)t->ne[0] / tr->block_elems, tr->block_bytes, &t->row_bytes) != 0 ||
	    q_mul_u64(t->row_bytes, rows, &t->nbytes) != 0)
		return q_error(c->err, "%s: %s: byte size overflows 64 bits", f->path, ctx);

	at = c->pos;
	if (read_u64(c, &t->offset, "data offset", ctx) != 0)
		return -1;
	if (t->offset % f->alignment != 0)
		return q_error(c->err, "%s: %s: data offset %llu (byte %llu) is not a multiple of the "
		    "alignment %u", f->path, ctx, (unsigned long long)t->offset,
		    (unsigned long long)at, f->alignment);
	return 0;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
	const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Place every tensor inside the file and make sure no two share bytes. */
static int place_tensors(struct cursor *c)
{
	struct gguf_file *f = c->f;
	uint64_t a = f->alignment;
	uint64_t pad = (a - c->pos % a) % a;
	if (q_add_u64(c->pos, pad, &f->data_off) != 0)
		return q_error(c->err, "%s: data section offset overflows", f->path);
	if (f->n_tensors == 0)
		return 0;
	if (f->data_off > f->size)
		return q_error(c->err, "%s: the data section would start at byte %llu, past the end "
		    "of the file (%llu bytes)", f->path, (unsigned long long)f->data_off,
		    (unsigned long long)f->size);
	uint64_t room = f->size - f->data_off;
	const struct gguf_tensor **order = xreallocarray(NULL, (size_t)f->n_tensors,
	    sizeof *order);
	for (int i = 0; i < f->n_tensors; i++) {
		struct gguf_tensor *t = &f->tensors[i];
		if (t->offset > room || t->nbytes > room - t->offset) {
			uint64_t end;
			int over = q_add_u64(f->data_off, t->offset, &end) != 0 ||
			    q_add_u64(end, t->nbytes, &end) != 0;
			free(order);
			if (over)
				return q_error(c->err, "%s: tensor '%s': data end overflows 64 bits",
				    f->path, t->name);
			return q_error(c->err, "%s: tensor '%s': data ends at byte %llu, past the end "
			    "of the file (%llu bytes)", f->path, t->name, (unsigned long long)end,
			    (unsigned long long)f->size);
		}
		t->data = f->base + f->data_off + t->offset;
		order[i] = t;
	}
	qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_offset);
	for (int i = 1; i < f->n_tensors; i++) {
		const struct gguf_tensor *p = order[i - 1], *t = order[i];
		if (p->offset + p->nbytes > t->offset) {
			int rc = q_error(c->err, "%s: tensors '%s' and '%s' overlap in the data section "
			    "(offsets %llu and %llu)", f->path, p->name, t->name,
			    (unsigned long long)p->offset, (unsigned long long)t->offset);
			free(order);
			return rc;
		}
	}
	free(order);
	return 0;
}

static int parse(struct gguf_file *f, char **err)
{
	struct cursor cur = { f, 0, err }, *c = &cur;
	if (f->size < 24)   /* magic, version and the two counts */
		return q_error(err, "%s: %llu bytes is too small for a GGUF file", f->path,
		    (unsigned long long)f->size);
	if (memcmp(f->base, "GGUF", 4) != 0)
		return q_error(err, "%s: not a GGUF file (bad magic)", f->path);
	c->pos = 4;
	if (read_u32(c, &f->version, "version", "header") != 0)
		return -1;
	if (f->version == 0x02000000u || f->version == 0x03000000u)
		return q_error(err, "%s: big-endian GGUF files are not supported", f->path);
	if (f->version == 1)
		return q_error(err, "%s: unsupported GGUF version 1 (only versions 2 and 3 are "
		    "supported; convert the model again with a current converter)", f->path);
	if (f->version != 2 && f->version != 3)
		return q_error(err, "%s: unsupported GGUF version %u (only versions 2 and 3 are "
		    "supported)", f->path, f->version);
	uint64_t n_tensors, n_kv;
	if (read_u64(c, &n_tensors, "tensor count", "header") != 0 ||
	    read_u64(c, &n_kv, "key count", "header") != 0)
		return -1;
	/* A key takes at least 14 bytes (length, 1-byte name, type, 1-byte value) and a tensor
	 * description 33 (length, 1-byte name, n_dims, one dimension, type, offset). */
	uint64_t left = f->size - c->pos;
	if (n_kv > MAX_COUNT || n_kv > left / 14)
		return q_error(err, "%s: key count %llu is impossible for a file of %llu bytes",
		    f->path, (unsigned long long)n_kv, (unsigned long long)f->size);
	if (n_tensors > MAX_COUNT || n_tensors > (left - n_kv * 14) / 33)
		return q_error(err, "%s: tensor count %llu is impossible for a file of %llu bytes",
		    f->path, (unsigned long long)n_tensors, (unsigned long long)f->size);

	/* Grow the arrays as entries parse, so a lying count costs no memory up front. */
	size_t cap = 0;
	char ctx[CTX_LEN];
	for (uint64_t i = 0; i < n_kv; i++) {
		if ((size_t)f->n_kv == cap) {
			cap = cap ? cap * 2 : 32;
			f->kv = xreallocarray(f->kv, cap, sizeof *f->kv);
		}
		struct gguf_kv *kv = &f->kv[f->n_kv];
		memset(kv, 0, sizeof *kv);
		snprintf(ctx, sizeof ctx, "key #%llu", (unsigned long long)i);
		if (read_name(c, MAX_KEY_LEN, &kv->key, "key name", ctx) != 0)
			return -1;
		f->n_kv++;
		snprintf(ctx, sizeof ctx, "key '%.*s'", CTX_NAME_LEN, kv->key);
		if (read_value_type(c, &kv->type, "value type", ctx) != 0 ||
		    parse_value(c, kv, ctx) != 0)
			return -1;
	}
	f->key_hash_mask = hash_size_for(f->n_kv) - 1;
	f->key_hash = xcalloc((size_t)f->key_hash_mask + 1, sizeof *f->key_hash);
	for (int i = 0; i < f->n_kv; i++) {
		if (gguf_find_key(f, f->kv[i].key) >= 0)
			return q_error(err, "%s: key '%s' appears more than once", f->path, f->kv[i].key);
		hash_put(f->key_hash, f->key_hash_mask, f->kv[i].key, i);
	}
	if (parse_alignment(c) != 0)
		return -1;

	cap = 0;
	for (uint64_t i = 0; i < n_tensors; i++) {
		if ((size_t)f->n_tensors == cap) {
			cap = cap ? cap * 2 : 64;
			f->tensors = xreallocarray(f->tensors, cap, sizeof *f->tensors);
		}
		struct gguf_tensor *t = &f->tensors[f->n_tensors];
		memset(t, 0, sizeof *t);
		int rc = parse_tensor_info(c, t, f->n_tensors);
		if (t->name != NULL)
			f->n_tensors++;   /* so gguf_close() frees the name */
		if (rc != 0)
			return -1;
	}
	f->tensor_hash_mask = hash_size_for(f->n_tensors) - 1;
	f->tensor_hash = xcalloc((size_t)f->tensor_hash_mask + 1, sizeof *f->tensor_hash);
	for (int i = 0; i < f->n_tensors; i++) {
		if (gguf_find_tensor(f, f->tensors[i].name) != NULL)
			return q_error(err, "%s: tensor '%s' appears more than once", f->path,
			    f->tensors[i].name);
		hash_put(f->tensor_hash, f->tensor_hash_mask, f->tensors[i].name, i);
	}
	return place_tensors(c);
}

/* --- opening and closing ---------------------------------------------------------------- */

static int finish_open(struct gguf_file *f, struct gguf_file **out, char **err)
{
	if (parse(f, err) != 0) {
		gguf_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

int gguf_open_buffer(const void *data, size_t size, const char *name, struct gguf_file **out,
    char **err)
{
	*out = NULL;
	struct gguf_file *f = xcalloc(1, sizeof *f);
	f->path = xstrdup(name);
	f->base = data;
	f->size = size;
	if (size > 0 && data == NULL) {
		gguf_close(f);
		return q_error(err, "%s: no data", name);
	}
	return finish_open(f, out, err);
}

int gguf_open(const char *path, struct gguf_file **out, char **err)
{
	*out = NULL;
	struct stat st;
	int fd = file_open_regular(path, &st, err);
	if (fd < 0)
		return -1;
	if (st.st_size == 0) {   /* mmap refuses it; parse() would say the same */
		close(fd);
		return q_error(err, "%s: 0 bytes is too small for a GGUF file", path);
	}
	if ((unsigned long long)st.st_size > SIZE_MAX) {
		close(fd);
		return q_error(err, "%s: file too large to map", path);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (p == MAP_FAILED)
		return q_error(err, "%s: mmap: %s", path, strerror(e));
	struct gguf_file *f = xcalloc(1, sizeof *f);
	f->path = xstrdup(path);
	f->base = p;
	f->size = (uint64_t)st.st_size;
	f->mapped = 1;
	return finish_open(f, out, err);
}

void gguf_close(struct gguf_file *f)
{
	if (f == NULL)
		return;
	for (int i = 0; i < f->n_kv; i++) {
		free(f->kv[i].key);
		free(f->kv[i].str_pos);
	}
	free(f->kv);
	for (int i = 0; i < f->n_tensors; i++)
		free((char *)f->tensors[i].name);
	free(f->tensors);
	free(f->key_hash);
	free(f->tensor_hash);
	if (f->mapped)
		munmap((void *)f->base, (size_t)f->size);
	free(f->path);
	free(f);
}

/* --- the file as a whole ---------------------------------------------------------------- */

const char *gguf_path(const struct gguf_file *f) { return f->path; }
uint64_t gguf_file_size(const struct gguf_file *f) { return f->size; }
uint32_t gguf_version(const struct gguf_file *f) { return f->version; }
uint32_t gguf_alignment(const struct gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const struct gguf_file *f) { return f->data_off; }
const void *gguf_base(const struct gguf_file *f) { return f->base; }

/* --- keys ------------------------------------------------------------------------------- */

int gguf_key_count(const struct gguf_file *f)
{
	return f->n_kv;
}

static const struct gguf_kv *kv_at(const struct gguf_file *f, int i)
{
	if (i < 0 || i >= f->n_kv)
		fatal("gguf: key index %d out of range (%d keys)", i, f->n_kv);
	return &f->kv[i];
}

const char *gguf_key_name(const struct gguf_file *f, int key_idx)
{
	return kv_at(f, key_idx)->key;
}

int gguf_find_key(const struct gguf_file *f, const char *key)
{
	return hash_find(f->key_hash, f->key_hash_mask, key, kv_name_of, f);
}

/* Find key for a getter: 0 and *kv, 1 if absent (or -1 with a message when required). */
static int lookup(const struct gguf_file *f, const char *key, int required,
    const struct gguf_kv **kv, char **err)
{
	int i = gguf_find_key(f, key);
	if (i < 0)
		return required ? q_error(err, "%s: missing key '%s'", f->path, key) : 1;
	*kv = &f->kv[i];
	return 0;
}

static int mismatch(const struct gguf_file *f, const struct gguf_kv *kv, const char *want,
    char **err)
{
	return q_error(err, "%s: key '%s' has type %s, expected %s", f->path, kv->key,
	    gguf_type_name(kv->type), want);
}

/* Integer getter core: value in [lo, hi] given as sign + magnitude bounds. */
static int get_int(const struct gguf_file *f, const char *key, int required, int64_t lo,
    uint64_t hi, int *neg, uint64_t *mag, const char *want, char **err)
{
	const struct gguf_kv *kv;
	int rc = lookup(f, key, required, &kv, err);
	if (rc != 0)
		return rc;
	if (kv_int(f, kv->pos, kv->type, neg, mag) != 0)
		return mismatch(f, kv, want, err);
	uint64_t lo_mag = lo < 0 ? (uint64_t)(-(lo + 1)) + 1 : 0;
	if ((*neg && *mag > lo_mag) || (!*neg && *mag > hi))
		return q_error(err, "%s: key '%s' is %s%llu, which does not fit %s", f->path, key,
		    *neg ? "-" : "", (unsigned long long)*mag, want);
	return 0;
}

static int64_t signed_of(int neg, uint64_t mag)
{
	/* mag <= 2^63 when neg, checked by get_int's bounds. */
	return neg ? (mag == (1ull << 63) ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
}

#define DEFINE_INT_GETTER(fname, ctype, lo, hi, want, required)                              \
	int fname(const struct gguf_file *f, const char *key, ctype *out, char **err)         \
	{                                                                                     \
		int neg;                                                                          \
		uint64_t mag;                                                                     \
		int rc = get_int(f, key, required, lo, hi, &neg, &mag, want, err);                \
		if (rc == 0)                                                                      \
			*out = (ctype)signed_of(neg, mag);                                            \
		return rc;                                                                        \
	}

DEFINE_INT_GETTER(gguf_get_u32, uint32_t, 0, UINT32_MAX, "u32", 0)
DEFINE_INT_GETTER(gguf_get_i32, int32_t, INT32_MIN, INT32_MAX, "i32", 0)
DEFINE_INT_GETTER(gguf_get_i64, int64_t, INT64_MIN, INT64_MAX, "i64", 0)
DEFINE_INT_GETTER(gguf_need_u32, uint32_t, 0, UINT32_MAX, "u32", 1)

static int get_u64(const struct gguf_file *f, const char *key, int required, uint64_t *out,
    char **err)
{
	int neg;
	uint64_t mag;
	int rc = get_int(f, key, required, 0, UINT64_MAX, &neg, &mag, "u64", err);
	if (rc == 0)
		*out = mag;
	return rc;
}

int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out, char **err)
{
	return get_u64(f, key, 0, out, err);
}

static int get_f64(const struct gguf_file *f, const char *key, int required, int to_f32,
    double *out, char **err)
{
	const struct gguf_kv *kv;
	int rc = lookup(f, key, required, &kv, err);
	if (rc != 0)
		return rc;
	double d;
	if (kv->type == GGUF_TYPE_FLOAT32)
		d = le_f32(f->base + kv->pos);
	else if (kv->type == GGUF_TYPE_FLOAT64)
		d = le_f64(f->base + kv->pos);
	else
		return mismatch(f, kv, to_f32 ? "f32" : "f64", err);
	if (to_f32 && isfinite(d) && fabs(d) > FLT_MAX)
		return q_error(err, "%s: key '%s' is %g, out of the range of f32", f->path, key, d);
	*out = d;
	return 0;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out, char **err)
{
	double d;
	int rc = get_f64(f, key, 0, 1, &d, err);
	if (rc == 0)
		*out = (float)d;
	return rc;
}

int gguf_get_f64(const struct gguf_file *f, const char *key, double *out, char **err)
{
	return get_f64(f, key, 0, 0, out, err);
}

int gguf_get_bool(const struct gguf_file *f, const char *key, int *out, char **err)
{
	const struct gguf_kv *kv;
	int rc = lookup(f, key, 0, &kv, err);
	if (rc != 0)
		return rc;
	if (kv->type != GGUF_TYPE_BOOL)
		return mismatch(f, kv, "bool", err);
	*out = f->base[kv->pos] != 0;
	return 0;
}

static int get_str(const struct gguf_file *f, const char *key, int required, const char **s,
    size_t *len, char **err)
{
	const struct gguf_kv *kv;
	int rc = lookup(f, key, required, &kv, err);
	if (rc != 0)
		return rc;
	if (kv->type != GGUF_TYPE_STRING)
		return mismatch(f, kv, "str", err);
	*s = (const char *)f->base + kv->pos;
	*len = (size_t)kv->n;
	return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key, const char **s, size_t *len,
    char **err)
{
	return get_str(f, key, 0, s, len, err);
}

int gguf_need_str(const struct gguf_file *f, const char *key, const char **s, size_t *len,
    char **err)
{
	return get_str(f, key, 1, s, len, err);
}

int gguf_get_strdup(const struct gguf_file *f, const char *key, char **out, char **err)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = get_str(f, key, 0, &s, &len, err);
	if (rc != 0)
		return rc;
	if (memchr(s, '\0', len) != NULL)
		return q_error(err, "%s: key '%s' holds a NUL byte", f->path, key);
	*out = xstrndup(s, len);
	return 0;
}

/* --- arrays ----------------------------------------------------------------------------- */

static int need_array(const struct gguf_file *f, const struct gguf_kv *kv, char **err)
{
	if (kv->type != GGUF_TYPE_ARRAY)
		return mismatch(f, kv, "arr", err);
	return 0;
}

int gguf_get_arr(const struct gguf_file *f, int key_idx, enum gguf_type *elem_type,
    uint64_t *len, char **err)
{
	const struct gguf_kv *kv = kv_at(f, key_idx);
	if (need_array(f, kv, err) != 0)
		return -1;
	*elem_type = kv->elem_type;
	*len = kv->n;
	return 0;
}

int gguf_get_arr_str(const struct gguf_file *f, int key_idx, uint64_t i, const char **s,
    size_t *len, char **err)
{
	const struct gguf_kv *kv = kv_at(f, key_idx);
	if (need_array(f, kv, err) != 0)
		return -1;
	if (kv->elem_type != GGUF_TYPE_STRING)
		return q_error(err, "%s: key '%s' is an array of %s, expected an array of str",
		    f->path, kv->key, gguf_type_name(kv->elem_type));
	if (i >= kv->n)
		return q_error(err, "%s: key '%s': element %llu is past the end of the array (%llu "
		    "elements)", f->path, kv->key, (unsigned long long)i, (unsigned long long)kv->n);
	uint64_t pos = kv->str_pos[i];
	*len = (size_t)le_read(f->base + pos, 8);
	*s = (const char *)f->base + pos + 8;
	return 0;
}

/* Checks shared by the numeric array copies. */
static int arr_copy_check(const struct gguf_file *f, const struct gguf_kv *kv, uint64_t n,
    char **err)
{
	if (need_array(f, kv, err) != 0)
		return -1;
	if (n > kv->n)
		return q_error(err, "%s: key '%s': asked for %llu elements of an array of %llu",
		    f->path, kv->key, (unsigned long long)n, (unsigned long long)kv->n);
	return 0;
}

static int arr_copy_int(const struct gguf_file *f, int key_idx, uint64_t n, int64_t lo,
    uint64_t hi, const char *want, void *dst, int dst_signed, char **err)
{
	const struct gguf_kv *kv = kv_at(f, key_idx);
	if (arr_copy_check(f, kv, n, err) != 0)
		return -1;
	if (!type_is_int(kv->elem_type))
		return q_error(err, "%s: key '%s' is an array of %s, expected integers", f->path,
		    kv->key, gguf_type_name(kv->elem_type));
	int esz = type_size(kv->elem_type);
	uint64_t lo_mag = lo < 0 ? (uint64_t)(-(lo + 1)) + 1 : 0;
	for (uint64_t i = 0; i < n; i++) {
		int neg;
		uint64_t mag;
		kv_int(f, kv->pos + i * (uint64_t)esz, kv->elem_type, &neg, &mag);
		if ((neg && mag > lo_mag) || (!neg && mag > hi))
			return q_error(err, "%s: key '%s': element %llu is %s%llu, which does not fit %s",
			    f->path, kv->key, (unsigned long long)i, neg ? "-" : "",
			    (unsigned long long)mag, want);
		if (dst_signed)
			((int32_t *)dst)[i] = (int32_t)signed_of(neg, mag);
		else
			((uint32_t *)dst)[i] = (uint32_t)mag;
	}
	return 0;
}

int gguf_get_arr_i32(const struct gguf_file *f, int key_idx, int32_t *dst, uint64_t n,
    char **err)
{
	return arr_copy_int(f, key_idx, n, INT32_MIN, INT32_MAX, "i32", dst, 1, err);
}

int gguf_get_arr_u32(const struct gguf_file *f, int key_idx, uint32_t *dst, uint64_t n,
    char **err)
{
	return arr_copy_int(f, key_idx, n, 0, UINT32_MAX, "u32", dst, 0, err);
}

int gguf_get_arr_f32(const struct gguf_file *f, int key_idx, float *dst, uint64_t n,
    char **err)
{
	const struct gguf_kv *kv = kv_at(f, key_idx);
	if (arr_copy_check(f, kv, n, err) != 0)
		return -1;
	if (kv->elem_type == GGUF_TYPE_FLOAT32) {
		for (uint64_t i = 0; i < n; i++)
			dst[i] = le_f32(f->base + kv->pos + 4 * i);
		return 0;
	}
	if (kv->elem_type != GGUF_TYPE_FLOAT64)
		return q_error(err, "%s: key '%s' is an array of %s, expected f32 or f64", f->path,
		    kv->key, gguf_type_name(kv->elem_type));
	for (uint64_t i = 0; i < n; i++) {
		double d = le_f64(f->base + kv->pos + 8 * i);
		if (isfinite(d) && fabs(d) > FLT_MAX)
			return q_error(err, "%s: key '%s': element %llu is %g, out of the range of f32",
			    f->path, kv->key, (unsigned long long)i, d);
		dst[i] = (float)d;
	}
	return 0;
}

/* --- rendering for `quire info` --------------------------------------------------------- */

/* Quote and escape s, cut after about max_chars output bytes (0 = no limit). */
static void render_str(struct buf *b, const uint8_t *s, uint64_t len, size_t max_chars)
{
	size_t start = b->len;
	buf_append_char(b, '"');
	for (uint64_t i = 0; i < len; i++) {
		if (max_chars && b->len - start >= max_chars) {
			buf_printf(b, "\"... (%llu bytes)", (unsigned long long)len);
			return;
		}
		uint8_t ch = s[i];
		if (ch == '"' || ch == '\\')
			buf_printf(b, "\\%c", ch);
		else if (ch == '\n')
			buf_append_str(b, "\\n");
		else if (ch == '\t')
			buf_append_str(b, "\\t");
		else if (ch == '\r')
			buf_append_str(b, "\\r");
		else if (ch < 0x20 || ch >= 0x7f)
			buf_printf(b, "\\x%02x", ch);
		else
			buf_append_char(b, (char)ch);
	}
	buf_append_char(b, '"');
}

static void render_scalar(const struct gguf_file *f, struct buf *b, enum gguf_type t,
    uint64_t pos)
{
	const uint8_t *p = f->base + pos;
	int neg;
	uint64_t mag;
	if (kv_int(f, pos, t, &neg, &mag) == 0)
		buf_printf(b, "%s%llu", neg ? "-" : "", (unsigned long long)mag);
	else if (t == GGUF_TYPE_FLOAT32)
		buf_printf(b, "%.9g", le_f32(p));
	else if (t == GGUF_TYPE_FLOAT64)
		buf_printf(b, "%.17g", le_f64(p));
	else if (t == GGUF_TYPE_BOOL)
		buf_append_str(b, p[0] ? "true" : "false");
	else
		fatal("gguf: render of type %d", (int)t);
}

char *gguf_render_value(const struct gguf_file *f, int key_idx, size_t max_chars)
{
	const struct gguf_kv *kv = kv_at(f, key_idx);
	struct buf b = BUF_INIT;
	if (kv->type == GGUF_TYPE_STRING) {
		render_str(&b, f->base + kv->pos, kv->n, max_chars);
	} else if (kv->type != GGUF_TYPE_ARRAY) {
		render_scalar(f, &b, kv->type, kv->pos);
	} else {
		buf_append_char(&b, '[');
		int esz = type_size(kv->elem_type);
		for (uint64_t i = 0; i < kv->n; i++) {
			if (max_chars && b.len >= max_chars) {
				buf_printf(&b, "... (%llu items)", (unsigned long long)kv->n);
				break;
			}
			if (kv->elem_type == GGUF_TYPE_STRING) {
				uint64_t pos = kv->str_pos[i];
				render_str(&b, f->base + pos + 8, le_read(f->base + pos, 8), max_chars);
			} else {
				render_scalar(f, &b, kv->elem_type, kv->pos + i * (uint64_t)esz);
			}
			if (i + 1 < kv->n)
				buf_append_str(&b, ", ");
		}
		buf_append_char(&b, ']');
	}
	return buf_steal(&b);
}

/* --- tensors ---------------------------------------------------------------------------- */

int gguf_tensor_count(const struct gguf_file *f)
{
	return f->n_tensors;
}

const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, int i)
{
	if (i < 0 || i >= f->n_tensors)
		fatal("gguf: tensor index %d out of range (%d tensors)", i, f->n_tensors);
	return &f->tensors[i];
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
	int i = hash_find(f->tensor_hash, f->tensor_hash_mask, name, tensor_name_of, f);
	return i < 0 ? NULL : &f->tensors[i];
}
