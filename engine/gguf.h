/* gguf.h: a read-only, fully validated view of a GGUF v2/v3 model file (metadata keys and tensor
 * descriptions), memory-mapped so tensor data is used in place.
 *
 * gguf_open() checks every byte of the header before it returns a handle: magic, version, counts
 * against the file size, string and array lengths, value types, tensor shapes, types, sizes,
 * alignment and placement, duplicate keys and tensor names. After a successful open nothing in
 * this API can read outside the mapping. Errors are "FILE: what went wrong" messages.
 *
 * GGUF strings are not NUL-terminated: keys and tensor names are handed out as NUL-terminated
 * copies, string values as pointer + length into the mapping (their bytes are arbitrary). Strings
 * and numeric arrays inside the file are unaligned, so numbers are copied out, never pointed to.
 * The mapping stays valid until gguf_close(); a file truncated by someone else while it is open
 * raises SIGBUS on access, as with any mmap. */
#ifndef QUIRE_ENGINE_GGUF_H
#define QUIRE_ENGINE_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ggml-types.h"

struct gguf_file;   /* opaque */

/* Value types as GGUF numbers them. */
enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT_ = 13     /* ids at or above this are invalid */
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

struct gguf_tensor {
	const char *name;         /* NUL-terminated copy, unique within the file */
	int n_dims;               /* 1..GGUF_MAX_DIMS */
	int64_t ne[GGUF_MAX_DIMS];/* elements per dimension, ne[0] = row length (GGUF order);
	                           * every entry > 0, unused ones are 1 */
	enum ggml_type type;      /* a type ggml_type_traits_of() knows */
	uint64_t offset;          /* byte offset from the start of the data section */
	uint64_t nbytes;          /* bytes of data */
	uint64_t row_bytes;       /* bytes of one row of ne[0] elements */
	const void *data;         /* into the mapping; aligned to gguf_alignment() in memory */
};

/* --- opening ------------------------------------------------------------------------------ */

/* Map and validate path. On success *out is a handle for gguf_close(); on failure returns -1
 * with *err set (when err is not NULL) and *out NULL. */
int gguf_open(const char *path, struct gguf_file **out, char **err);

/* Validate bytes already in memory; name is used in messages. data must stay valid and
 * unchanged until gguf_close(), which does not free it. */
int gguf_open_buffer(const void *data, size_t size, const char *name, struct gguf_file **out,
    char **err);

void gguf_close(struct gguf_file *f);   /* NULL is fine */

/* --- the file as a whole ---------------------------------------------------------------- */

const char *gguf_path(const struct gguf_file *f);
uint64_t gguf_file_size(const struct gguf_file *f);
uint32_t gguf_version(const struct gguf_file *f);          /* 2 or 3 */
uint32_t gguf_alignment(const struct gguf_file *f);        /* general.alignment or 32 */
uint64_t gguf_data_offset(const struct gguf_file *f);      /* file offset of the data section */
const void *gguf_base(const struct gguf_file *f);          /* byte 0 of the file */

/* --- metadata keys ---------------------------------------------------------------------- */

/* Functions taking key_idx (or a tensor index) require 0 <= idx < the count: an index out of
 * range is a bug in the caller and calls fatal(). */

int gguf_key_count(const struct gguf_file *f);
const char *gguf_key_name(const struct gguf_file *f, int key_idx);   /* NUL-terminated */
int gguf_find_key(const struct gguf_file *f, const char *key);       /* index, or -1 */
const char *gguf_type_name(enum gguf_type t);   /* "u32", "str", "arr", ...; "?" if invalid */

/* Typed getters by key name. Each returns
 *    0  the key exists and its value converts exactly: *out is set;
 *    1  the key is absent: *out is left alone, so a default stored there beforehand stands;
 *   -1  the key exists with an unsuitable type or a value that does not fit: *err names the
 *       file and the key.
 * Integer getters accept any integer type (u8..i64) whose value fits the target; bool and
 * floats are a type mismatch. gguf_get_f32/f64 accept f32 and f64 (f64 out of float range is an
 * error). gguf_get_str gives pointer + length into the mapping (not NUL-terminated);
 * gguf_get_strdup gives a malloc'd NUL-terminated copy and rejects values with a NUL byte. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out, char **err);
int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out, char **err);
int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out, char **err);
int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out, char **err);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out, char **err);
int gguf_get_f64(const struct gguf_file *f, const char *key, double *out, char **err);
int gguf_get_bool(const struct gguf_file *f, const char *key, int *out, char **err);
int gguf_get_str(const struct gguf_file *f, const char *key, const char **s, size_t *len,
    char **err);
int gguf_get_strdup(const struct gguf_file *f, const char *key, char **out, char **err);

/* The same, but an absent key is an error too ("FILE: missing key 'KEY'"): 0 or -1. */
int gguf_need_u32(const struct gguf_file *f, const char *key, uint32_t *out, char **err);
int gguf_need_str(const struct gguf_file *f, const char *key, const char **s, size_t *len,
    char **err);

/* --- arrays (by key index; gguf_find_key() gives it) ------------------------------------ */

/* Element type and length of an array value: 0, or -1 with *err if the key is not an array.
 * Arrays of arrays are rejected at open, so the element type is never GGUF_TYPE_ARRAY. */
int gguf_get_arr(const struct gguf_file *f, int key_idx, enum gguf_type *elem_type,
    uint64_t *len, char **err);

/* String element i of a string array: pointer + length into the mapping. 0, or -1 with *err
 * when the value is not a string array or i is out of range. O(1): offsets are indexed at open. */
int gguf_get_arr_str(const struct gguf_file *f, int key_idx, uint64_t i, const char **s,
    size_t *len, char **err);

/* Copy elements [0, n) of a numeric array into dst, converting each element exactly (integer
 * arrays of any width into i32/u32 when every value fits; f32 or f64 into f32). n must not
 * exceed the array's length. 0, or -1 with *err naming the file, key and offending element. */
int gguf_get_arr_i32(const struct gguf_file *f, int key_idx, int32_t *dst, uint64_t n,
    char **err);
int gguf_get_arr_u32(const struct gguf_file *f, int key_idx, uint32_t *dst, uint64_t n,
    char **err);
int gguf_get_arr_f32(const struct gguf_file *f, int key_idx, float *dst, uint64_t n,
    char **err);

/* A printable, single-line rendering of a value for `quire info`: numbers as written, strings
 * quoted with control and non-ASCII bytes escaped (\n, \xNN), arrays as
 * "[a, b, c, ... (49152 items)]". Output longer than max_chars (0 = no limit) is cut and says
 * so. Malloc'd; never NULL. */
char *gguf_render_value(const struct gguf_file *f, int key_idx, size_t max_chars);

/* --- tensors ---------------------------------------------------------------------------- */

int gguf_tensor_count(const struct gguf_file *f);
const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, int i);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);

#endif
