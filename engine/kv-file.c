/* kv-file.c: the on-disk KV cache, an append-only file of checksummed records that a crash can
 * only cut short.
 *
 * Layout (every number little-endian, offsets in bytes):
 *
 *   header, 4096 bytes at offset 0
 *        0  magic "QUIREKV\0"                                          8 bytes
 *        8  format version (1)                                         u32
 *       12  header size (4096)                                         u32
 *       16  model_id, rope_id                                          u64 x 2
 *       32  dtype, block_tokens, sinks, window, n_layer, n_head_kv,
 *           head_dim                                                   u32 x 7
 *       60  zero                                                       u32
 *       64  fingerprint: checksum64 of bytes 16..59 (seed SEED_PARAMS) u64
 *       72  block_bytes = n_layer * 2 * block_tokens * row_bytes       u64
 *       80  zeros
 *     4088  checksum64 of the 4096 bytes with this field zero          u64
 *
 *   records from 4096 on, each at a multiple of 64 and zero-padded to the next one: a 64-byte
 *   record header, then its payload
 *        0  magic "BLK1" (a block) or "CMT1" (a commit)                4 bytes
 *        4  block: tokens it holds, 1..block_tokens; commit: 0         u32
 *        8  block: its index; commit: seq (1, 2, ...)                  u64
 *       16  payload length: block_bytes, or 40 for a commit            u64
 *       24  checksum64 of the payload                                  u64
 *       32  zeros                                                      24 bytes
 *       56  checksum64 of bytes 0..55                                  u64
 *   A block's payload holds, layer by layer, block_tokens K rows and then block_tokens V rows of
 *   row_bytes each, so layer l's K of a block starts 2*l*S bytes into the payload and its V at
 *   (2*l + 1)*S, S = block_tokens * row_bytes: one contiguous read, the payload itself starting
 *   at a multiple of 64. Rows past the block's tokens are zero.
 *   A commit's payload is n_tokens, n_blocks, n_docs, layout_hash and chain (u64 each).
 *
 * The chain makes the commits one chain from the first block: starting from the previous
 * commit's chain (0 before the first commit), every block record's header checksum is folded
 * in as chain = checksum64(its 8 bytes, 8, chain ^ SEED_CHAIN), then the commit's seq the same
 * way; the result is stored in the commit. A commit thereby vouches for exactly the block
 * records behind it, checked without reading their payloads.
 *
 * Blocks have indices 0, 1, 2, ...; only the last may be partial, and a record for the index of
 * a partial last block supersedes it (the later record wins), which is how a block fills up over
 * several index runs. Opening reads the record headers (and the commits' small payloads) in
 * order: the first record that is incomplete or fails a checksum ends the scan, and nothing
 * after the last valid commit counts. Records that are intact but break the rules above, before
 * a valid commit, make the file corrupt. Nothing in the file depends on the run: two writers
 * given the same calls write the same bytes, and a writer that reopens a file cut after a
 * commit goes on exactly as one that was never stopped. */
#include "engine/kv-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/checksum.h"
#include "lib/file.h"
#include "lib/util.h"

#define MAGIC "QUIREKV"              /* with its NUL: 8 bytes */
#define HEADER_SUM_AT 4088           /* where the header checksum lives */
#define PARAMS_AT 16                 /* the encoded parameters in the header */
#define PARAMS_BYTES 44
#define RECORD_ALIGN 64
#define RECORD_HEADER 64
#define RECORD_SUM_AT 56
#define COMMIT_PAYLOAD 40
#define COMMIT_RECORD 128            /* a commit's header and payload, padded */
#define MAX_DIM 1024                 /* n_layer, n_head_kv, head_dim */

/* One seed per purpose, so equal bytes in different roles hash apart (ASCII tags). */
#define SEED_HEADER  0x514b562d68647200ull   /* "QKV-hdr" */
#define SEED_PARAMS  0x514b562d70726d00ull   /* "QKV-prm" */
#define SEED_RECORD  0x514b562d72656300ull   /* "QKV-rec" */
#define SEED_PAYLOAD 0x514b562d70617900ull   /* "QKV-pay" */
#define SEED_CHAIN   0x514b562d63686e00ull   /* "QKV-chn" */

static const char block_magic[4] = { 'B', 'L', 'K', '1' };
static const char commit_magic[4] = { 'C', 'M', 'T', '1' };

struct kv_block {
	uint64_t off;             /* file offset of the payload */
	uint64_t sum;             /* payload checksum, from the record header */
	uint32_t n_tok;           /* tokens it holds */
	uint8_t verdict;          /* payload checked: 0 not yet, 1 good, 2 damaged */
};

struct kv_file {
	char *path;               /* as given, for messages */
	struct kv_file_params p;  /* the file's parameters */
	uint64_t row_bytes;       /* one token's K (or V) row of one layer */
	uint64_t rows_bytes;      /* one layer's K (or V) of one block: block_tokens * row_bytes */
	uint64_t block_bytes;     /* a block's payload */
	int fd;                   /* writer: the file; reader: -1 */
	int lock_fd;              /* writer: the lock file, flocked; reader: -1 */
	const uint8_t *map;       /* reader: the whole file; writer: NULL */
	uint64_t size;            /* reader: bytes mapped; writer: where the next record goes */
	int broken;               /* writer: a write failed, the end of the file is unknown */

	/* Blocks as the records so far make them: the committed ones, then those since. */
	struct kv_block *blocks;
	size_t cap;               /* entries allocated */
	uint64_t n_committed;     /* blocks the last commit vouches for */
	uint64_t n_blocks;        /* committed and appended since */
	uint64_t n_tokens;        /* tokens in those n_blocks */
	int superseded;           /* the committed last block has an uncommitted newer record... */
	struct kv_block committed_last;   /* ...and this is the record its commit vouched for */
	uint64_t chain;           /* the last commit's chain folded with the block records since */
	struct kv_file_commit last;   /* the last commit (zeros when none) */
	uint64_t last_chain;      /* its chain (0 when none) */
	uint64_t commit_end;      /* offset just past the last commit (the header's end if none) */
	uint64_t scan_end;        /* where the opening scan stopped */

	uint8_t *buf;             /* writer: one block's payload, allocated when first needed */
	uint64_t buf_off;         /* payload offset of the record buf holds (0: none) */
};

/* --- record alignment and the checksum chain ---------------------------------------------- */

static uint64_t align_up(uint64_t x)
{
	return (x + RECORD_ALIGN - 1) & ~(uint64_t)(RECORD_ALIGN - 1);
}

static uint64_t chain_fold(uint64_t chain, uint64_t v)
{
	uint8_t b[8];
	le_put(b, v, 8);
	return checksum64(b, sizeof b, chain ^ SEED_CHAIN);
}

/* --- parameters --------------------------------------------------------------------------- */

enum field_format { FIELD_HEX, FIELD_COUNT, FIELD_TYPE, FIELD_WINDOW };

/* The parameters in file order: the fingerprint, the header and the mismatch messages. */
static const struct param_field {
	const char *name;         /* as a mismatch message names it */
	size_t offset;            /* in struct kv_file_params */
	int size;                 /* bytes, in memory and in the file */
	enum field_format format; /* how a message shows its value */
} param_fields[] = {
	{ "model", offsetof(struct kv_file_params, model_id), 8, FIELD_HEX },
	{ "RoPE configuration", offsetof(struct kv_file_params, rope_id), 8, FIELD_HEX },
	{ "KV type", offsetof(struct kv_file_params, dtype), 4, FIELD_TYPE },
	{ "block size", offsetof(struct kv_file_params, block_tokens), 4, FIELD_COUNT },
	{ "attention sinks", offsetof(struct kv_file_params, sinks), 4, FIELD_COUNT },
	{ "local window", offsetof(struct kv_file_params, window), 4, FIELD_WINDOW },
	{ "layer count", offsetof(struct kv_file_params, n_layer), 4, FIELD_COUNT },
	{ "KV head count", offsetof(struct kv_file_params, n_head_kv), 4, FIELD_COUNT },
	{ "head dimension", offsetof(struct kv_file_params, head_dim), 4, FIELD_COUNT },
};

static uint64_t field_get(const struct kv_file_params *p, const struct param_field *fd)
{
	const char *at = (const char *)p + fd->offset;
	if (fd->size == 8) {
		uint64_t v;
		memcpy(&v, at, 8);
		return v;
	}
	uint32_t v;
	memcpy(&v, at, 4);
	return v;
}

static void field_set(struct kv_file_params *p, const struct param_field *fd, uint64_t v)
{
	char *at = (char *)p + fd->offset;
	if (fd->size == 8) {
		memcpy(at, &v, 8);
	} else {
		uint32_t u = (uint32_t)v;
		memcpy(at, &u, 4);
	}
}

static void params_encode(const struct kv_file_params *p, uint8_t out[PARAMS_BYTES])
{
	for (size_t i = 0; i < Q_ARRAY_LEN(param_fields); i++) {
		le_put(out, field_get(p, &param_fields[i]), param_fields[i].size);
		out += param_fields[i].size;
	}
}

static void params_decode(const uint8_t *in, struct kv_file_params *p)
{
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < Q_ARRAY_LEN(param_fields); i++) {
		field_set(p, &param_fields[i], le_get(in, param_fields[i].size));
		in += param_fields[i].size;
	}
}

static void field_format(const struct param_field *fd, uint64_t v, char *out, size_t size)
{
	switch (fd->format) {
	case FIELD_HEX:
		snprintf(out, size, "%016llx", (unsigned long long)v);
		break;
	case FIELD_TYPE:
		snprintf(out, size, "%s", v == 0 ? "f16" : v == 1 ? "q8_0" : "unknown");
		break;
	case FIELD_WINDOW:
		if (v == UINT32_MAX) {
			snprintf(out, size, "unbounded");
			break;
		}
		/* fall through */
	default:
		snprintf(out, size, "%llu", (unsigned long long)v);
		break;
	}
}

uint64_t kv_file_fingerprint(const struct kv_file_params *p)
{
	uint8_t b[PARAMS_BYTES];
	params_encode(p, b);
	return checksum64(b, sizeof b, SEED_PARAMS);
}

char *kv_file_name(const struct kv_file_params *p)
{
	return xasprintf("%016llx.kv", (unsigned long long)kv_file_fingerprint(p));
}

size_t kv_file_row_bytes(uint32_t dtype, uint32_t kv_dim)
{
	size_t n;
	if (kv_dim == 0)
		return 0;
	if (dtype == 0)
		return q_mul_size(kv_dim, 2, &n) == 0 ? n : 0;
	if (dtype == 1 && kv_dim % 32 == 0)
		return q_mul_size(kv_dim / 32, 34, &n) == 0 ? n : 0;
	return 0;
}

int kv_file_params_check(const struct kv_file_params *p, const char *what, char **err)
{
	if (p->dtype > 1)
		return q_error(err, "%s: unknown KV type %u", what, p->dtype);
	if (p->block_tokens < 16 || p->block_tokens > 4096 || p->block_tokens % 16 != 0)
		return q_error(err, "%s: block size %u is not a multiple of 16 from 16 to 4096", what,
		    p->block_tokens);
	if (p->n_layer < 1 || p->n_layer > MAX_DIM)
		return q_error(err, "%s: layer count %u is not between 1 and %d", what, p->n_layer,
		    MAX_DIM);
	if (p->n_head_kv < 1 || p->n_head_kv > MAX_DIM)
		return q_error(err, "%s: KV head count %u is not between 1 and %d", what, p->n_head_kv,
		    MAX_DIM);
	if (p->head_dim < 1 || p->head_dim > MAX_DIM)
		return q_error(err, "%s: head dimension %u is not between 1 and %d", what, p->head_dim,
		    MAX_DIM);
	if (p->dtype == 1 && p->head_dim % 32 != 0)
		return q_error(err, "%s: head dimension %u is not a multiple of 32, as q8_0 needs",
		    what, p->head_dim);
	/* The bounds keep a block under 2^44 bytes, so nothing below overflows 64 bits. */
	size_t row = kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim), n;
	if (row == 0 || q_mul_size(row, p->block_tokens, &n) != 0 ||
	    q_mul_size(n, 2 * (size_t)p->n_layer, &n) != 0)
		return q_error(err, "%s: a block would not fit in memory", what);
	return 0;
}

size_t kv_file_block_bytes(const struct kv_file_params *p)
{
	if (kv_file_params_check(p, "", NULL) != 0)
		return 0;
	return kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim) * p->block_tokens * 2 *
	    p->n_layer;
}

/* "PATH: made with block size 128, this run asks for 256" for the first field that differs. */
static int params_compare(const char *path, const struct kv_file_params *have,
    const struct kv_file_params *want, char **err)
{
	for (size_t i = 0; i < Q_ARRAY_LEN(param_fields); i++) {
		const struct param_field *fd = &param_fields[i];
		uint64_t a = field_get(have, fd), b = field_get(want, fd);
		if (a == b)
			continue;
		char sa[32], sb[32];
		field_format(fd, a, sa, sizeof sa);
		field_format(fd, b, sb, sizeof sb);
		return q_error(err, "%s: made with %s %s, this run asks for %s", path, fd->name, sa,
		    sb);
	}
	return 0;
}

/* --- the header --------------------------------------------------------------------------- */

static void header_encode(const struct kv_file_params *p, uint8_t h[KV_FILE_HEADER_SIZE])
{
	memset(h, 0, KV_FILE_HEADER_SIZE);
	memcpy(h, MAGIC, 8);
	le_put(h + 8, KV_FILE_VERSION, 4);
	le_put(h + 12, KV_FILE_HEADER_SIZE, 4);
	params_encode(p, h + PARAMS_AT);
	le_put(h + 64, kv_file_fingerprint(p), 8);
	le_put(h + 72, kv_file_block_bytes(p), 8);
	le_put(h + HEADER_SUM_AT, checksum64(h, KV_FILE_HEADER_SIZE, SEED_HEADER), 8);
}

static uint64_t header_sum(const uint8_t *h)
{
	uint8_t copy[KV_FILE_HEADER_SIZE];
	memcpy(copy, h, sizeof copy);
	memset(copy + HEADER_SUM_AT, 0, 8);
	return checksum64(copy, sizeof copy, SEED_HEADER);
}

/* Validate the header h of a file of size bytes and fill f's parameters and sizes. */
static int header_parse(struct kv_file *f, const uint8_t *h, uint64_t size, char **err)
{
	const char *path = f->path;
	if (size < KV_FILE_HEADER_SIZE)
		return q_error(err, "%s: truncated header (%llu bytes of %d)", path,
		    (unsigned long long)size, KV_FILE_HEADER_SIZE);
	if (memcmp(h, MAGIC, 8) != 0)
		return q_error(err, "%s: not a quire KV cache file (bad magic)", path);
	uint32_t version = (uint32_t)le_get(h + 8, 4);
	if (version > KV_FILE_VERSION)
		return q_error(err, "%s: KV format version %u is newer than this quire (%d)", path,
		    version, KV_FILE_VERSION);
	if (version != KV_FILE_VERSION)
		return q_error(err, "%s: unknown KV format version %u", path, version);
	if (le_get(h + HEADER_SUM_AT, 8) != header_sum(h))
		return q_error(err, "%s: header is damaged (checksum)", path);
	if (le_get(h + 12, 4) != KV_FILE_HEADER_SIZE || le_get(h + 60, 4) != 0)
		return q_error(err, "%s: header is damaged (size field %llu, reserved field %llu)",
		    path, (unsigned long long)le_get(h + 12, 4), (unsigned long long)le_get(h + 60, 4));
	params_decode(h + PARAMS_AT, &f->p);
	char *what = xasprintf("%s: header", path);
	int rc = kv_file_params_check(&f->p, what, err);
	free(what);
	if (rc != 0)
		return -1;
	uint64_t fp = le_get(h + 64, 8), block_bytes = le_get(h + 72, 8);
	if (fp != kv_file_fingerprint(&f->p))
		return q_error(err, "%s: header is damaged (fingerprint %016llx does not match its "
		    "parameters)", path, (unsigned long long)fp);
	f->row_bytes = kv_file_row_bytes(f->p.dtype, f->p.n_head_kv * f->p.head_dim);
	f->rows_bytes = f->row_bytes * f->p.block_tokens;
	f->block_bytes = kv_file_block_bytes(&f->p);
	if (block_bytes != f->block_bytes)
		return q_error(err, "%s: header is damaged (block bytes %llu, its parameters make "
		    "%llu)", path, (unsigned long long)block_bytes, (unsigned long long)f->block_bytes);
	return 0;
}

/* --- reading and writing at an offset ----------------------------------------------------- */

/* n bytes at off: 0, 1 if the file ends first, -1 on an I/O error (with *err). Readers too
 * read record headers this way rather than from the mapping: a writer may cut off the records
 * after the last commit under them, and a read past the end then comes back short where
 * touching the mapping would raise SIGBUS. */
static int read_at(struct kv_file *f, uint64_t off, void *dst, size_t n, char **err)
{
	return file_pread_full(f->fd, f->path, off, dst, n, err);
}

/* The same where the bytes must be there. */
static int read_all(struct kv_file *f, uint64_t off, void *dst, size_t n, char **err)
{
	int rc = read_at(f, off, dst, n, err);
	if (rc > 0)
		return q_error(err, "%s: the file ends before byte %llu, shorter than it was",
		    f->path, (unsigned long long)(off + n));
	return rc;
}

/* A failed write leaves the end of the file unknown: the writer refuses more from then on. */
static int write_at(struct kv_file *f, uint64_t off, const void *src, size_t n, char **err)
{
	if (file_pwrite_full(f->fd, f->path, off, src, n, err) == 0)
		return 0;
	f->broken = 1;
	return -1;
}

/* --- the rules records follow ------------------------------------------------------------- */

/* Can a record for block i holding n_tok tokens come next? 0, or -1 with why filled. */
static int block_check(const struct kv_file *f, uint64_t i, uint32_t n_tok, char *why,
    size_t size)
{
	uint32_t bt = f->p.block_tokens;
	if (n_tok < 1 || n_tok > bt) {
		snprintf(why, size, "block %llu holds %u tokens (1 to %u allowed)",
		    (unsigned long long)i, n_tok, bt);
		return -1;
	}
	if (i == f->n_blocks) {
		if (i > 0 && f->blocks[i - 1].n_tok < bt) {
			snprintf(why, size, "block %llu follows block %llu, which holds only %u tokens",
			    (unsigned long long)i, (unsigned long long)(i - 1), f->blocks[i - 1].n_tok);
			return -1;
		}
		return 0;
	}
	if (f->n_blocks > 0 && i == f->n_blocks - 1 && f->blocks[i].n_tok < bt)
		return 0;   /* supersedes the partial last block */
	if (f->n_blocks > 0 && f->blocks[f->n_blocks - 1].n_tok < bt)
		snprintf(why, size, "a record for block %llu where block %llu or %llu (which is "
		    "partial) comes next", (unsigned long long)i, (unsigned long long)f->n_blocks,
		    (unsigned long long)(f->n_blocks - 1));
	else
		snprintf(why, size, "a record for block %llu where block %llu comes next",
		    (unsigned long long)i, (unsigned long long)f->n_blocks);
	return -1;
}

static void block_apply(struct kv_file *f, uint64_t i, uint32_t n_tok, uint64_t off,
    uint64_t sum)
{
	struct kv_block b = { off, sum, n_tok, 0 };
	if (i == f->n_blocks) {
		if (f->n_blocks == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 64;
			f->blocks = xreallocarray(f->blocks, f->cap, sizeof *f->blocks);
		}
		f->n_blocks++;
	} else {
		if (i < f->n_committed && !f->superseded) {
			f->committed_last = f->blocks[i];
			f->superseded = 1;
		}
		f->n_tokens -= f->blocks[i].n_tok;
	}
	f->blocks[i] = b;
	f->n_tokens += n_tok;
}

static int commit_check(const struct kv_file *f, const struct kv_file_commit *c, char *why,
    size_t size)
{
	if (c->seq != f->last.seq + 1) {
		snprintf(why, size, "commit %llu follows commit %llu", (unsigned long long)c->seq,
		    (unsigned long long)f->last.seq);
		return -1;
	}
	if (c->n_blocks != f->n_blocks || c->n_tokens != f->n_tokens) {
		snprintf(why, size, "commit %llu says %llu tokens in %llu blocks, the blocks before "
		    "it hold %llu tokens in %llu", (unsigned long long)c->seq,
		    (unsigned long long)c->n_tokens, (unsigned long long)c->n_blocks,
		    (unsigned long long)f->n_tokens, (unsigned long long)f->n_blocks);
		return -1;
	}
	return 0;
}

static void commit_apply(struct kv_file *f, const struct kv_file_commit *c, uint64_t chain,
    uint64_t end)
{
	f->last = *c;
	f->last_chain = chain;
	f->chain = chain;
	f->n_committed = f->n_blocks;
	f->superseded = 0;
	f->commit_end = end;
}

/* Forget what came after the last commit. */
static void rollback(struct kv_file *f)
{
	if (f->superseded)
		f->blocks[f->n_committed - 1] = f->committed_last;
	f->superseded = 0;
	f->n_blocks = f->n_committed;
	f->n_tokens = f->last.n_tokens;
	f->chain = f->last_chain;
}

/* The committed record of block i < n_committed. */
static struct kv_block *committed_block(struct kv_file *f, uint64_t i)
{
	if (f->superseded && i == f->n_committed - 1)
		return &f->committed_last;
	return &f->blocks[i];
}

/* --- records ------------------------------------------------------------------------------ */

struct record {
	int commit;               /* 0 block, 1 commit */
	uint32_t n_tok;           /* block: tokens */
	uint64_t index;           /* block: index; commit: seq */
	uint64_t len;             /* payload bytes */
	uint64_t sum;             /* payload checksum */
	uint64_t header_sum;      /* record header checksum */
	uint64_t end;             /* where the next record starts */
	struct kv_file_commit c;  /* commit: what it says */
	uint64_t chain;           /* commit: its chain */
};

static void record_header_encode(uint8_t h[RECORD_HEADER], const char magic[4], uint32_t small,
    uint64_t index, uint64_t len, uint64_t sum)
{
	memset(h, 0, RECORD_HEADER);
	memcpy(h, magic, 4);
	le_put(h + 4, small, 4);
	le_put(h + 8, index, 8);
	le_put(h + 16, len, 8);
	le_put(h + 24, sum, 8);
	le_put(h + RECORD_SUM_AT, checksum64(h, RECORD_SUM_AT, SEED_RECORD), 8);
}

static void commit_payload_encode(uint8_t p[COMMIT_PAYLOAD], const struct kv_file_commit *c,
    uint64_t chain)
{
	le_put(p, c->n_tokens, 8);
	le_put(p + 8, c->n_blocks, 8);
	le_put(p + 16, c->n_docs, 8);
	le_put(p + 24, c->layout_hash, 8);
	le_put(p + 32, chain, 8);
}

/* The record at off: 1 if a whole, valid one is there, 0 if not (the scan ends there), -1 if
 * the file cannot be read. */
static int record_read(struct kv_file *f, uint64_t off, struct record *r, char **err)
{
	uint8_t h[RECORD_HEADER];
	if (off > f->size || f->size - off < RECORD_HEADER)
		return 0;
	int rc = read_at(f, off, h, sizeof h, err);
	if (rc != 0)
		return rc > 0 ? 0 : -1;   /* cut off while we read: the records end here */
	memset(r, 0, sizeof *r);
	if (memcmp(h, commit_magic, 4) == 0)
		r->commit = 1;
	else if (memcmp(h, block_magic, 4) != 0)
		return 0;
	r->header_sum = le_get(h + RECORD_SUM_AT, 8);
	if (r->header_sum != checksum64(h, RECORD_SUM_AT, SEED_RECORD))
		return 0;
	for (int i = 32; i < RECORD_SUM_AT; i++)
		if (h[i] != 0)
			return 0;
	r->n_tok = (uint32_t)le_get(h + 4, 4);
	r->index = le_get(h + 8, 8);
	r->len = le_get(h + 16, 8);
	r->sum = le_get(h + 24, 8);
	if (r->len != (r->commit ? COMMIT_PAYLOAD : f->block_bytes) || (r->commit && r->n_tok != 0))
		return 0;
	if (r->len > f->size - off - RECORD_HEADER)
		return 0;   /* cut short */
	r->end = align_up(off + RECORD_HEADER + r->len);
	if (!r->commit)
		return 1;   /* the payload is checked when it is read */
	uint8_t p[COMMIT_PAYLOAD];
	rc = read_at(f, off + RECORD_HEADER, p, sizeof p, err);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (checksum64(p, sizeof p, SEED_PAYLOAD) != r->sum)
		return 0;
	r->c.seq = r->index;
	r->c.n_tokens = le_get(p, 8);
	r->c.n_blocks = le_get(p + 8, 8);
	r->c.n_docs = le_get(p + 16, 8);
	r->c.layout_hash = le_get(p + 24, 8);
	r->chain = le_get(p + 32, 8);
	return 1;
}

/* Read the records from the header on; leave f with the state of the last valid commit. */
static int scan(struct kv_file *f, char **err)
{
	char why[256], *corrupt = NULL;   /* the first rule broken, if a commit follows it */
	uint64_t off = KV_FILE_HEADER_SIZE;
	f->commit_end = off;
	for (;;) {
		struct record r;
		int rc = record_read(f, off, &r, err);
		if (rc < 0) {
			free(corrupt);
			return -1;
		}
		if (rc == 0)
			break;
		if (!r.commit) {
			if (corrupt == NULL) {
				if (block_check(f, r.index, r.n_tok, why, sizeof why) == 0)
					block_apply(f, r.index, r.n_tok, off + RECORD_HEADER, r.sum);
				else
					corrupt = xasprintf("%s: corrupt at byte %llu: %s", f->path,
					    (unsigned long long)off, why);
			}
			f->chain = chain_fold(f->chain, r.header_sum);
		} else {
			uint64_t chain = chain_fold(f->chain, r.c.seq);
			if (chain != r.chain)
				break;   /* it does not vouch for the records before it */
			if (corrupt != NULL) {
				q_error(err, "%s", corrupt);
				free(corrupt);
				return -1;
			}
			if (commit_check(f, &r.c, why, sizeof why) != 0)
				return q_error(err, "%s: corrupt at byte %llu: %s", f->path,
				    (unsigned long long)off, why);
			commit_apply(f, &r.c, chain, r.end);
		}
		off = r.end;
	}
	free(corrupt);
	f->scan_end = off;
	rollback(f);
	return 0;
}

/* --- opening and closing ------------------------------------------------------------------ */

static struct kv_file *file_new(const char *path)
{
	struct kv_file *f = xcalloc(1, sizeof *f);
	f->path = xstrdup(path);
	f->fd = -1;
	f->lock_fd = -1;
	return f;
}

void kv_file_close(struct kv_file *f)
{
	if (f == NULL)
		return;
	if (f->map != NULL)
		munmap((void *)f->map, (size_t)f->size);
	if (f->fd >= 0)
		close(f->fd);
	if (f->lock_fd >= 0)
		close(f->lock_fd);   /* releases the flock */
	free(f->blocks);
	free(f->buf);
	free(f->path);
	free(f);
}

/* Open and map path, keeping the descriptor for reading record headers (a file shorter than
 * a header is left unmapped for header_parse to refuse). Fails only when the file cannot be
 * opened or mapped. */
static int reader_map(struct kv_file *f, char **err)
{
	struct stat st;
	int fd = file_open_regular(f->path, &st, err);
	if (fd < 0)
		return -1;
	if ((unsigned long long)st.st_size > SIZE_MAX) {
		close(fd);
		return q_error(err, "%s: file too large to map", f->path);
	}
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	if (f->size < KV_FILE_HEADER_SIZE)
		return 0;
	void *p = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return q_error(err, "%s: mmap: %s", f->path, strerror(errno));
	f->map = p;
	return 0;
}

static int reader_parse(struct kv_file *f, const struct kv_file_params *expect, char **err)
{
	if (header_parse(f, f->map, f->size, err) != 0)
		return -1;
	if (expect != NULL && params_compare(f->path, &f->p, expect, err) != 0)
		return -1;
	return scan(f, err);
}

int kv_file_open_read(const char *path, const struct kv_file_params *expect,
    struct kv_file **out, char **err)
{
	*out = NULL;
	struct kv_file *f = file_new(path);
	if (reader_map(f, err) != 0 || reader_parse(f, expect, err) != 0) {
		kv_file_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

/* Take "<path>.lock" without waiting and write "who pid" into it. */
static int lock_take(struct kv_file *f, const char *who, char **err)
{
	char *lock = xasprintf("%s.lock", f->path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		q_error(err, "%s: %s", lock, strerror(errno));
		free(lock);
		return -1;
	}
	free(lock);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		if (e != EWOULDBLOCK) {
			close(fd);
			return q_error(err, "%s.lock: flock: %s", f->path, strerror(e));
		}
		/* The holder's line: untrusted text, shown only if it looks like ours. */
		char line[128];
		ssize_t n = pread(fd, line, sizeof line - 1, 0);
		close(fd);
		line[n > 0 ? n : 0] = '\0';
		line[strcspn(line, "\n")] = '\0';
		char *sp = strrchr(line, ' ');
		char *end = NULL;
		long pid = sp != NULL ? strtol(sp + 1, &end, 10) : 0;
		if (sp == NULL || sp == line || end == sp + 1 || *end != '\0' || pid <= 0)
			return q_error(err, "%s: in use by another process", f->path);
		*sp = '\0';
		for (char *c = line; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		return q_error(err, "%s: in use by %s (pid %ld)", f->path, line, pid);
	}
	char *line = xasprintf("%s %ld\n", who != NULL && who[0] ? who : "quire", (long)getpid());
	size_t len = strlen(line);
	int rc = ftruncate(fd, 0) == 0 && pwrite(fd, line, len, 0) == (ssize_t)len ? 0 : -1;
	free(line);
	if (rc != 0) {
		int e = errno;
		close(fd);
		return q_error(err, "%s.lock: write: %s", f->path, strerror(e));
	}
	f->lock_fd = fd;
	return 0;
}

/* A new file holding only the header, durably. */
static int create(struct kv_file *f, const uint8_t *header, char **err)
{
	f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f->fd < 0)
		return q_error(err, "%s: create: %s", f->path, strerror(errno));
	const char *what = "fsync";
	if (write_at(f, 0, header, KV_FILE_HEADER_SIZE, err) != 0)
		goto fail;
	if (fsync(f->fd) != 0)
		goto fail_errno;
	what = "fsync of the directory";
	if (file_sync_dir_of(f->path) != 0)
		goto fail_errno;
	f->broken = 0;
	return 0;
fail_errno:
	q_error(err, "%s: %s: %s", f->path, what, strerror(errno));
fail:
	unlink(f->path);
	close(f->fd);
	f->fd = -1;
	return -1;
}

/* A file shorter than its header that a crash during create() can have left: nothing but a
 * prefix of the header we would write, where any byte may still read zero. */
static int interrupted_create(struct kv_file *f, const uint8_t *header, uint64_t size,
    char **err)
{
	uint8_t have[KV_FILE_HEADER_SIZE];
	if (size > 0 && read_all(f, 0, have, (size_t)size, err) != 0)
		return -1;   /* the file changed under our lock: refuse it */
	for (uint64_t i = 0; i < size; i++)
		if (have[i] != header[i] && have[i] != 0)
			return 0;
	return 1;
}

int kv_file_open_write(const char *path, const struct kv_file_params *p, const char *who,
    struct kv_file **out, char **err)
{
	*out = NULL;
	if (kv_file_params_check(p, path, err) != 0)
		return -1;
	struct kv_file *f = file_new(path);
	f->p = *p;
	f->row_bytes = kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim);
	f->rows_bytes = f->row_bytes * p->block_tokens;
	f->block_bytes = kv_file_block_bytes(p);
	uint8_t header[KV_FILE_HEADER_SIZE], have[KV_FILE_HEADER_SIZE];
	header_encode(p, header);
	if (lock_take(f, who, err) != 0)
		goto fail;

	f->fd = open(path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0 && errno == ENOENT) {
		if (create(f, header, err) != 0)
			goto fail;
		f->size = f->commit_end = KV_FILE_HEADER_SIZE;
		*out = f;
		return 0;
	}
	if (f->fd < 0) {
		q_error(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(f->fd, &st) != 0) {
		q_error(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		q_error(err, "%s: not a regular file", path);
		goto fail;
	}
	f->size = (uint64_t)st.st_size;
	if (f->size < KV_FILE_HEADER_SIZE) {
		int rc = interrupted_create(f, header, f->size, err);
		if (rc < 0)
			goto fail;
		if (rc == 0) {
			q_error(err, "%s: truncated header (%llu bytes of %d)", path,
			    (unsigned long long)f->size, KV_FILE_HEADER_SIZE);
			goto fail;
		}
		if (write_at(f, 0, header, sizeof header, err) != 0)
			goto fail;
		if (fsync(f->fd) != 0) {
			q_error(err, "%s: fsync: %s", path, strerror(errno));
			goto fail;
		}
		f->size = KV_FILE_HEADER_SIZE;
	}

	if (read_all(f, 0, have, sizeof have, err) != 0 || header_parse(f, have, f->size, err) != 0 ||
	    params_compare(path, &f->p, p, err) != 0 || scan(f, err) != 0)
		goto fail;
	if (f->size != f->commit_end && ftruncate(f->fd, (off_t)f->commit_end) != 0) {
		q_error(err, "%s: truncate after the last commit: %s", path, strerror(errno));
		goto fail;
	}
	f->size = f->commit_end;
	*out = f;
	return 0;
fail:
	kv_file_close(f);
	return -1;
}

const struct kv_file_params *kv_file_get_params(const struct kv_file *f)
{
	return &f->p;
}

void kv_file_last_commit(const struct kv_file *f, struct kv_file_commit *out)
{
	*out = f->last;
}

uint32_t kv_file_block_tokens(const struct kv_file *f, uint64_t i)
{
	if (i >= f->n_committed)
		return 0;
	return committed_block((struct kv_file *)f, i)->n_tok;
}

/* --- blocks ------------------------------------------------------------------------------- */

/* The payload of b, checked against its checksum the first time: a pointer into the mapping,
 * or (writer) into f->buf. */
static int block_payload(struct kv_file *f, uint64_t i, struct kv_block *b, const uint8_t **out,
    char **err)
{
	if (b->verdict == 2)
		return q_error(err, "%s: block %llu is damaged (checksum)", f->path,
		    (unsigned long long)i);
	const uint8_t *p;
	if (f->map != NULL) {
		p = f->map + b->off;
	} else {
		if (f->buf_off != b->off) {
			if (f->buf == NULL)
				f->buf = xmalloc((size_t)f->block_bytes);
			f->buf_off = 0;
			if (read_all(f, b->off, f->buf, (size_t)f->block_bytes, err) != 0)
				return -1;   /* a committed block is never cut off: the file was damaged */
			f->buf_off = b->off;
		}
		p = f->buf;
	}
	if (b->verdict == 0)
		b->verdict = checksum64(p, (size_t)f->block_bytes, SEED_PAYLOAD) == b->sum ? 1 : 2;
	if (b->verdict == 2)
		return q_error(err, "%s: block %llu is damaged (checksum)", f->path,
		    (unsigned long long)i);
	*out = p;
	return 0;
}

int kv_file_block_rows(struct kv_file *f, uint64_t i, uint32_t layer, int kind,
    const void **rows, char **err)
{
	*rows = NULL;
	if (i >= f->n_committed)
		return q_error(err, "%s: block %llu is not there (%llu committed)", f->path,
		    (unsigned long long)i, (unsigned long long)f->n_committed);
	if (layer >= f->p.n_layer || (kind != 0 && kind != 1))
		return q_error(err, "%s: no layer %u %s in a block (%u layers)", f->path, layer,
		    kind == 0 ? "K" : kind == 1 ? "V" : "?", f->p.n_layer);
	const uint8_t *p;
	if (block_payload(f, i, committed_block(f, i), &p, err) != 0)
		return -1;
	*rows = p + (2 * (uint64_t)layer + (uint64_t)kind) * f->rows_bytes;
	return 0;
}

int kv_file_append_block(struct kv_file *f, uint64_t i, uint32_t n_tok, const void *payload,
    char **err)
{
	char why[256];
	if (f->lock_fd < 0)
		return q_error(err, "%s: opened for reading, not writing", f->path);
	if (f->broken)
		return q_error(err, "%s: an earlier write failed; open the file again", f->path);
	if (block_check(f, i, n_tok, why, sizeof why) != 0)
		return q_error(err, "%s: %s", f->path, why);

	/* A partial block goes out with zeros past its tokens, whatever the caller left there. */
	const uint8_t *data = payload;
	if (n_tok < f->p.block_tokens) {
		if (f->buf == NULL)
			f->buf = xmalloc((size_t)f->block_bytes);
		f->buf_off = 0;
		memcpy(f->buf, payload, (size_t)f->block_bytes);
		uint64_t used = (uint64_t)n_tok * f->row_bytes;
		for (uint64_t s = 0; s < 2 * (uint64_t)f->p.n_layer; s++)
			memset(f->buf + s * f->rows_bytes + used, 0, (size_t)(f->rows_bytes - used));
		data = f->buf;
	}
	uint64_t sum = checksum64(data, (size_t)f->block_bytes, SEED_PAYLOAD);
	uint8_t h[RECORD_HEADER];
	record_header_encode(h, block_magic, n_tok, i, f->block_bytes, sum);
	uint64_t off = f->size, end = align_up(off + RECORD_HEADER + f->block_bytes);
	static const uint8_t zeros[RECORD_ALIGN];
	if (write_at(f, off, h, sizeof h, err) != 0 ||
	    write_at(f, off + RECORD_HEADER, data, (size_t)f->block_bytes, err) != 0 ||
	    write_at(f, off + RECORD_HEADER + f->block_bytes, zeros,
	    (size_t)(end - off - RECORD_HEADER - f->block_bytes), err) != 0)
		return -1;
	block_apply(f, i, n_tok, off + RECORD_HEADER, sum);
	f->chain = chain_fold(f->chain, le_get(h + RECORD_SUM_AT, 8));
	f->size = end;
	return 0;
}

int kv_file_commit(struct kv_file *f, struct kv_file_commit *c, char **err)
{
	char why[256];
	if (f->lock_fd < 0)
		return q_error(err, "%s: opened for reading, not writing", f->path);
	if (f->broken)
		return q_error(err, "%s: an earlier write failed; open the file again", f->path);
	c->seq = f->last.seq + 1;
	if (commit_check(f, c, why, sizeof why) != 0)
		return q_error(err, "%s: %s", f->path, why);
	/* After a failed fdatasync the kernel may have dropped the dirty pages and the next one
	 * succeed: nothing more is committed through this handle. */
	if (fdatasync(f->fd) != 0) {
		f->broken = 1;
		return q_error(err, "%s: fdatasync: %s", f->path, strerror(errno));
	}

	uint64_t chain = chain_fold(f->chain, c->seq);
	uint8_t rec[COMMIT_RECORD];
	memset(rec, 0, sizeof rec);
	commit_payload_encode(rec + RECORD_HEADER, c, chain);
	record_header_encode(rec, commit_magic, 0, c->seq, COMMIT_PAYLOAD,
	    checksum64(rec + RECORD_HEADER, COMMIT_PAYLOAD, SEED_PAYLOAD));
	uint64_t end = f->size + sizeof rec;
	if (write_at(f, f->size, rec, sizeof rec, err) != 0)
		return -1;
	if (fdatasync(f->fd) != 0) {
		f->broken = 1;
		return q_error(err, "%s: fdatasync: %s", f->path, strerror(errno));
	}
	commit_apply(f, c, chain, end);
	f->size = end;
	return 0;
}

/* --- checking ----------------------------------------------------------------------------- */

/* What lies after the last commit: the tail of an interrupted index, or a damaged record that
 * hides later commits (a valid commit record header further on). 1 if it is a problem. Read
 * with pread, as a writer may cut the tail off meanwhile. */
static int check_tail(struct kv_file *f, void (*report)(void *ctx, const char *msg), void *ctx)
{
	enum { CHUNK = 1 << 20 };     /* a multiple of RECORD_ALIGN */
	uint8_t *chunk = xmalloc(CHUNK);
	char *msg = NULL, *ignored = NULL;
	for (uint64_t at = f->commit_end; msg == NULL && at < f->size; at += CHUNK) {
		size_t n = f->size - at < CHUNK ? (size_t)(f->size - at) : CHUNK;
		if (read_at(f, at, chunk, n, &ignored) != 0)
			break;
		for (size_t j = 0; msg == NULL && j + RECORD_HEADER <= n; j += RECORD_ALIGN) {
			const uint8_t *h = chunk + j;
			uint64_t off = at + j, seq = le_get(h + 8, 8);
			if (memcmp(h, commit_magic, 4) != 0 ||
			    le_get(h + RECORD_SUM_AT, 8) != checksum64(h, RECORD_SUM_AT, SEED_RECORD) ||
			    seq <= f->last.seq)
				continue;
			if (off == f->scan_end)
				msg = xasprintf("%s: the commit record at byte %llu (commit %llu) is damaged; "
				    "nothing after commit %llu is trusted", f->path, (unsigned long long)off,
				    (unsigned long long)seq, (unsigned long long)f->last.seq);
			else
				msg = xasprintf("%s: the record at byte %llu is damaged and hides commit %llu "
				    "at byte %llu; nothing after commit %llu is trusted", f->path,
				    (unsigned long long)f->scan_end, (unsigned long long)seq,
				    (unsigned long long)off, (unsigned long long)f->last.seq);
		}
	}
	free(chunk);
	free(ignored);
	int problem = msg != NULL;
	if (msg == NULL)
		msg = xasprintf("%s: %llu bytes after the last commit (an interrupted index; the next "
		    "index resumes)", f->path, (unsigned long long)(f->size - f->commit_end));
	report(ctx, msg);
	free(msg);
	return problem;
}

int kv_file_check(const char *path, void (*report)(void *ctx, const char *msg), void *ctx,
    uint64_t *problems, char **err)
{
	*problems = 0;
	struct kv_file *f = file_new(path);
	if (reader_map(f, err) != 0) {
		kv_file_close(f);
		return -1;
	}
	char *msg = NULL;
	if (reader_parse(f, NULL, &msg) != 0) {
		report(ctx, msg);
		free(msg);
		*problems = 1;
		kv_file_close(f);
		return 0;
	}
	for (uint64_t i = 0; i < f->n_committed; i++) {
		const uint8_t *p;
		if (block_payload(f, i, committed_block(f, i), &p, &msg) != 0) {
			report(ctx, msg);
			(*problems)++;
		}
	}
	free(msg);
	if (f->size > f->commit_end)
		*problems += (uint64_t)check_tail(f, report, ctx);
	kv_file_close(f);
	return 0;
}

void kv_file_reseal(void *data, size_t len)
{
	uint8_t *d = data;
	if (len < KV_FILE_HEADER_SIZE)
		return;
	struct kv_file_params p;
	params_decode(d + PARAMS_AT, &p);
	le_put(d + 64, kv_file_fingerprint(&p), 8);
	le_put(d + HEADER_SUM_AT, header_sum(d), 8);
	uint64_t chain = 0;
	for (uint64_t off = KV_FILE_HEADER_SIZE; len - off >= RECORD_HEADER;) {
		uint8_t *h = d + off;
		int commit = memcmp(h, commit_magic, 4) == 0;
		if (!commit && memcmp(h, block_magic, 4) != 0)
			break;
		uint64_t plen = le_get(h + 16, 8);
		if (plen > len - off - RECORD_HEADER)
			break;
		uint8_t *payload = h + RECORD_HEADER;
		if (commit) {
			chain = chain_fold(chain, le_get(h + 8, 8));
			if (plen >= COMMIT_PAYLOAD)
				le_put(payload + 32, chain, 8);
		}
		le_put(h + 24, checksum64(payload, (size_t)plen, SEED_PAYLOAD), 8);
		le_put(h + RECORD_SUM_AT, checksum64(h, RECORD_SUM_AT, SEED_RECORD), 8);
		if (!commit)
			chain = chain_fold(chain, le_get(h + RECORD_SUM_AT, 8));
		off = align_up(off + RECORD_HEADER + plen);
		if (off > len)
			break;
	}
}
