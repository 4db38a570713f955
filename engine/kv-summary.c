/* kv-summary.c: per-block key summaries (kv-summary.h) and the side file that keeps them, one
 * fixed-size, checksummed slot per block of the KV file, rewritten in place.
 *
 * Layout (every number little-endian, offsets in bytes):
 *
 *   header, 4096 bytes at offset 0
 *        0  magic "QUIRESUM"                                           8 bytes
 *        8  format version (1)                                         u32
 *       12  zero                                                       u32
 *       16  the KV file's fingerprint (kv_file_fingerprint())          u64
 *       24  slot size S: 64 + the summary bytes, rounded up to 64      u64
 *       32  summary bytes, n_layer * n_head_kv * 2 * head_dim * 2      u64
 *       40  zeros
 *     4088  checksum64 of the 4096 bytes with this field zero          u64
 *
 *   slot i at 4096 + i * S: a 64-byte slot header, the summary, zeros to the slot's end
 *        0  magic "SUM1"                                               4 bytes
 *        4  tokens the summary covers, 1..block_tokens                 u32
 *        8  block index i                                              u64
 *       16  checksum64 of the summary                                  u64
 *       24  zeros                                                      32 bytes
 *       56  checksum64 of bytes 0..55                                  u64
 *   A summary holds, layer by layer and within a layer KV head by KV head, head_dim fp16 minima
 *   and then head_dim fp16 maxima.
 *
 * A slot's place is its block's index, so nothing needs scanning: a slot never written (a hole,
 * which reads as zeros) or past the end of the file is missing, and one whose checksums fail
 * is damaged; either way the caller recomputes the summary from the KV file. A slot is
 * rewritten only for a partial last block that grows (and for blocks after the KV file's last
 * commit, which no reader asks for), and readers check a partial block's slot on a copy. The
 * file never shrinks in place: a bad one is replaced whole by rename, so a reader's mapping of
 * the old one stays readable to the end. */
#include "engine/kv-summary.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/rope.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "lib/checksum.h"
#include "lib/file.h"
#include "lib/util.h"

#define MAGIC "QUIRESUM"             /* 8 bytes, without the NUL */
#define HEADER_SIZE KV_SUMMARY_HEADER_SIZE
#define HEADER_SUM_AT 4088           /* where the header checksum lives */
#define SLOT_ALIGN 64
#define SLOT_HEADER 64
#define SLOT_SUM_AT 56               /* the slot header's own checksum */

/* One seed per purpose, so equal bytes in different roles hash apart (ASCII tags). */
#define SEED_HEADER  0x51534d2d68647200ull   /* "QSM-hdr" */
#define SEED_SLOT    0x51534d2d736c7400ull   /* "QSM-slt" */
#define SEED_PAYLOAD 0x51534d2d70617900ull   /* "QSM-pay" */

static const char slot_magic[4] = { 'S', 'U', 'M', '1' };

/* What a slot holds, for the block and token count asked for. */
enum slot_state { SLOT_GOOD, SLOT_MISSING, SLOT_DAMAGED };

struct kv_summary_file {
	char *path;               /* as given, for messages */
	struct kv_file_params p;  /* the KV file's parameters */
	uint64_t sum_bytes;       /* one summary */
	uint64_t slot_bytes;      /* one slot: header, summary, padding */
	int fd;                   /* writer: the file; reader: -1 */
	int broken;               /* writer: a write or a sync failed */
	const uint8_t *map;       /* reader: the file as it was when opened */
	uint64_t size;            /* reader: bytes mapped */
	uint64_t n_slots;         /* reader: whole slots inside the mapping */
	uint8_t *good;            /* reader: per block, 1 once its whole slot has checked out */
	uint64_t n_good;          /* entries allocated */
	uint8_t *buf;             /* one slot: the writer's to write and read, or the reader's
	                           * copy of a partial block's */
};

/* --- summaries ---------------------------------------------------------------------------- */

size_t kv_summary_bytes(const struct kv_file_params *p)
{
	if (kv_file_params_check(p, "", NULL) != 0)
		return 0;
	return (size_t)p->n_layer * p->n_head_kv * 2 * p->head_dim * 2;
}

/* The fp16 neighbours of h below and above, where fp16_floor and fp16_ceil need them: rounding
 * keeps the sign, so a positive h is never below a negative x (h is not +0 there) and a
 * negative h never above a positive one (not -0), and h is not the infinity on that side. */
static uint16_t fp16_next_down(uint16_t h)
{
	return (uint16_t)(h & 0x8000 ? h + 1 : h - 1);
}

static uint16_t fp16_next_up(uint16_t h)
{
	return (uint16_t)(h & 0x8000 ? h - 1 : h + 1);
}

/* The largest fp16 value <= x, and the smallest >= x: rounding to nearest is off by at most
 * one step, in the wrong direction or not. */
static uint16_t fp16_floor(float x)
{
	uint16_t h = quant_f32_to_fp16(x);
	return quant_fp16_to_f32(h) > x ? fp16_next_down(h) : h;
}

static uint16_t fp16_ceil(float x)
{
	uint16_t h = quant_f32_to_fp16(x);
	return quant_fp16_to_f32(h) < x ? fp16_next_up(h) : h;
}

static void row_to_f32(const struct kv_file_params *p, const uint8_t *src, float *dst, size_t n)
{
	if (p->dtype == 1) {
		char *e = NULL;
		if (quant_dequantize_row(GGML_TYPE_Q8_0, src, dst, n, &e) != 0)
			fatal("kv_summary_compute: q8_0 row: %s", e);
	} else {
		quant_fp16_to_f32_row((const uint16_t *)(const void *)src, dst, n);
	}
}

/* Layer extremes: each of the n rows un-rotated by the angles of its token (cs, sn: pairs
 * per token) and folded into mn and mx. Inlined twice, as engine/backend-cpu.c's rope_rows:
 * with fmaf a libm call, or one instruction where the CPU has it; the same numbers. */
__attribute__((always_inline))
static inline void extremes(const struct kv_file_params *p, const uint8_t *rows, uint32_t n,
    const struct rope_table *t, const float *cs, const float *sn, size_t pairs, float *restrict row,
    float *restrict mn, float *restrict mx)
{
	size_t hd = p->head_dim, n_head = p->n_head_kv, kv_dim = n_head * hd;
	size_t row_bytes = kv_file_row_bytes(p->dtype, (uint32_t)kv_dim);
	for (size_t c = 0; c < kv_dim; c++) {
		mn[c] = INFINITY;
		mx[c] = -INFINITY;
	}
	for (uint32_t r = 0; r < n; r++) {
		row_to_f32(p, rows + r * row_bytes, row, kv_dim);
		for (size_t g = 0; g < n_head; g++)
			rope_rotate(row + g * hd, t->n_rot, t->pairing, cs + r * pairs, sn + r * pairs);
		size_t c = 0;
		for (; c + 8 <= kv_dim; c += 8)   /* eight at a time: what the vectorizer takes */
			for (size_t k = c; k < c + 8; k++) {
				mn[k] = row[k] < mn[k] ? row[k] : mn[k];   /* NaN is left out */
				mx[k] = row[k] > mx[k] ? row[k] : mx[k];
			}
		for (; c < kv_dim; c++) {
			mn[c] = row[c] < mn[c] ? row[c] : mn[c];
			mx[c] = row[c] > mx[c] ? row[c] : mx[c];
		}
	}
}

static void extremes_plain(const struct kv_file_params *p, const uint8_t *rows, uint32_t n,
    const struct rope_table *t, const float *cs, const float *sn, size_t pairs, float *restrict row,
    float *restrict mn, float *restrict mx)
{
	extremes(p, rows, n, t, cs, sn, pairs, row, mn, mx);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("fma")))
static void extremes_fma(const struct kv_file_params *p, const uint8_t *rows, uint32_t n,
    const struct rope_table *t, const float *cs, const float *sn, size_t pairs, float *restrict row,
    float *restrict mn, float *restrict mx)
{
	extremes(p, rows, n, t, cs, sn, pairs, row, mn, mx);
}
#endif

void kv_summary_compute(const struct kv_file_params *p, const void *const *k_rows,
    uint32_t n_tok, uint64_t pos0, const struct rope_table *const *rt, void *out)
{
	if (kv_summary_bytes(p) == 0)
		fatal("kv_summary_compute: invalid KV parameters");
	size_t hd = p->head_dim, n_head = p->n_head_kv, kv_dim = n_head * hd;
	uint32_t n = n_tok < p->block_tokens ? n_tok : p->block_tokens;
	size_t pairs = 1;
	for (uint32_t l = 0; l < p->n_layer; l++) {
		if (rt[l]->n_rot > (int)hd)
			fatal("kv_summary_compute: layer %u rotates %d dimensions of a head of %zu", l,
			    rt[l]->n_rot, hd);
		if ((size_t)rt[l]->n_pairs > pairs)
			pairs = (size_t)rt[l]->n_pairs;
	}
	float *row = xreallocarray(NULL, kv_dim, sizeof(float));
	float *mn = xreallocarray(NULL, kv_dim, sizeof(float));
	float *mx = xreallocarray(NULL, kv_dim, sizeof(float));
	float *cs = xreallocarray(NULL, (size_t)(n ? n : 1) * pairs, sizeof(float));
	float *sn = xreallocarray(NULL, (size_t)(n ? n : 1) * pairs, sizeof(float));
	const struct rope_table *have = NULL;   /* the table cs and sn hold the angles of */
	void (*fold)(const struct kv_file_params *, const uint8_t *, uint32_t,
	    const struct rope_table *, const float *, const float *, size_t, float *, float *,
	    float *) = extremes_plain;
#if defined(__x86_64__) || defined(__i386__)
	if (cpu_simd_level() >= CPU_SIMD_AVX2)
		fold = extremes_fma;
#endif
	uint16_t *o = out;

	for (uint32_t l = 0; l < p->n_layer; l++) {
		const struct rope_table *t = rt[l];
		if (t != have) {
			/* rope_shift_rows(row, 1, n_head, hd, -(pos0 + r), t)'s angles, made once per
			 * token for all the layers that share a table */
			for (uint32_t r = 0; r < n; r++)
				rope_cos_sin((double)(-(int64_t)(pos0 + r)), t->freq, t->n_pairs, 1.0f,
				    cs + r * pairs, sn + r * pairs);
			have = t;
		}
		fold(p, k_rows[l], n, t, cs, sn, pairs, row, mn, mx);
		for (size_t g = 0; g < n_head; g++) {
			uint16_t *at = o + ((size_t)l * n_head + g) * 2 * hd;
			for (size_t c = 0; c < hd; c++) {
				at[c] = fp16_floor(mn[g * hd + c]);
				at[hd + c] = fp16_ceil(mx[g * hd + c]);
			}
		}
	}
	free(row);
	free(mn);
	free(mx);
	free(cs);
	free(sn);
}

const uint16_t *kv_summary_min(const struct kv_file_params *p, const void *sum, uint32_t l,
    uint32_t g)
{
	return (const uint16_t *)sum + ((size_t)l * p->n_head_kv + g) * 2 * p->head_dim;
}

const uint16_t *kv_summary_max(const struct kv_file_params *p, const void *sum, uint32_t l,
    uint32_t g)
{
	return kv_summary_min(p, sum, l, g) + p->head_dim;
}

/* --- the header --------------------------------------------------------------------------- */

static void header_encode(const struct kv_summary_file *sf, uint8_t h[HEADER_SIZE])
{
	memset(h, 0, HEADER_SIZE);
	memcpy(h, MAGIC, 8);
	le_put(h + 8, KV_SUMMARY_VERSION, 4);
	le_put(h + 16, kv_file_fingerprint(&sf->p), 8);
	le_put(h + 24, sf->slot_bytes, 8);
	le_put(h + 32, sf->sum_bytes, 8);
	le_put(h + HEADER_SUM_AT, checksum64(h, HEADER_SIZE, SEED_HEADER), 8);
}

static uint64_t header_sum(const uint8_t *h)
{
	uint8_t copy[HEADER_SIZE];
	memcpy(copy, h, sizeof copy);
	memset(copy + HEADER_SUM_AT, 0, 8);
	return checksum64(copy, sizeof copy, SEED_HEADER);
}

/* Is h (HEADER_SIZE bytes) the header sf's parameters make? 0, or -1 saying what is wrong. */
static int header_check(const struct kv_summary_file *sf, const uint8_t *h, char **err)
{
	const char *path = sf->path;
	if (memcmp(h, MAGIC, 8) != 0)
		return q_error(err, "%s: not a quire summary file (bad magic)", path);
	uint32_t version = (uint32_t)le_get(h + 8, 4);
	if (version > KV_SUMMARY_VERSION)
		return q_error(err, "%s: summary format version %u is newer than this quire (%d)", path,
		    version, KV_SUMMARY_VERSION);
	if (version != KV_SUMMARY_VERSION)
		return q_error(err, "%s: unknown summary format version %u", path, version);
	if (le_get(h + HEADER_SUM_AT, 8) != header_sum(h))
		return q_error(err, "%s: header is damaged (checksum)", path);
	uint64_t fp = le_get(h + 16, 8), want = kv_file_fingerprint(&sf->p);
	if (fp != want)
		return q_error(err, "%s: made for another KV file (fingerprint %016llx, this one's is "
		    "%016llx)", path, (unsigned long long)fp, (unsigned long long)want);
	uint64_t slot = le_get(h + 24, 8), sum = le_get(h + 32, 8);
	if (slot != sf->slot_bytes || sum != sf->sum_bytes)
		return q_error(err, "%s: header is damaged (slots of %llu bytes for summaries of "
		    "%llu, its parameters make %llu and %llu)", path, (unsigned long long)slot,
		    (unsigned long long)sum, (unsigned long long)sf->slot_bytes,
		    (unsigned long long)sf->sum_bytes);
	uint8_t expect[HEADER_SIZE];
	header_encode(sf, expect);
	if (memcmp(h, expect, HEADER_SIZE) != 0)
		return q_error(err, "%s: header is damaged (reserved bytes are not zero)", path);
	return 0;
}

/* --- writing at an offset ----------------------------------------------------------------- */

/* A failed write leaves the slot's bytes unknown: the writer refuses more from then on. */
static int write_at(struct kv_summary_file *sf, uint64_t off, const void *src, size_t n,
    char **err)
{
	if (file_pwrite_full(sf->fd, sf->path, off, src, n, err) == 0)
		return 0;
	sf->broken = 1;
	return -1;
}

/* Where block i's slot starts; -1 if the slot would end past what an off_t can address. */
static int slot_offset(const struct kv_summary_file *sf, uint64_t i, uint64_t *off)
{
	uint64_t o, end;
	if (q_mul_u64(i, sf->slot_bytes, &o) != 0 || q_add_u64(o, HEADER_SIZE, &o) != 0 ||
	    q_add_u64(o, sf->slot_bytes, &end) != 0 || end > (uint64_t)INT64_MAX)
		return -1;
	*off = o;
	return 0;
}

/* --- slots -------------------------------------------------------------------------------- */

static void slot_header_encode(uint8_t h[SLOT_HEADER], uint64_t i, uint32_t n_tok, uint64_t sum)
{
	memset(h, 0, SLOT_HEADER);
	memcpy(h, slot_magic, 4);
	le_put(h + 4, n_tok, 4);
	le_put(h + 8, i, 8);
	le_put(h + 16, sum, 8);
	le_put(h + SLOT_SUM_AT, checksum64(h, SLOT_SUM_AT, SEED_SLOT), 8);
}

/* Does slot s (NULL: not in the file) hold block i's summary of n_tok tokens? The summary's
 * checksum is tested only when payload is set. */
static enum slot_state slot_verify(const struct kv_summary_file *sf, uint64_t i, uint32_t n_tok,
    const uint8_t *s, int payload, char **err)
{
	const char *path = sf->path;
	unsigned long long bi = (unsigned long long)i;
	if (s == NULL || memcmp(s, slot_magic, 4) != 0) {
		q_error(err, "%s: summary of block %llu is missing", path, bi);
		return SLOT_MISSING;
	}
	if (le_get(s + SLOT_SUM_AT, 8) != checksum64(s, SLOT_SUM_AT, SEED_SLOT)) {
		q_error(err, "%s: summary of block %llu is damaged (checksum of its slot header)",
		    path, bi);
		return SLOT_DAMAGED;
	}
	uint32_t have = (uint32_t)le_get(s + 4, 4);
	uint64_t index = le_get(s + 8, 8);
	int reserved = 0;
	for (int b = 24; b < SLOT_SUM_AT; b++)
		reserved |= s[b];
	if (index != i || have < 1 || have > sf->p.block_tokens || reserved != 0) {
		q_error(err, "%s: summary of block %llu is damaged (its slot says block %llu, %u "
		    "tokens)", path, bi, (unsigned long long)index, have);
		return SLOT_DAMAGED;
	}
	if (have != n_tok) {
		q_error(err, "%s: summary of block %llu is missing (its slot covers %u tokens, the "
		    "block holds %u)", path, bi, have, n_tok);
		return SLOT_MISSING;
	}
	if (payload &&
	    checksum64(s + SLOT_HEADER, (size_t)sf->sum_bytes, SEED_PAYLOAD) != le_get(s + 16, 8)) {
		q_error(err, "%s: summary of block %llu is damaged (checksum)", path, bi);
		return SLOT_DAMAGED;
	}
	return SLOT_GOOD;
}

/* A reader's block i: a whole block's slot is checked in the mapping, and remembered as good
 * when cache is set; a partial block's slot, which a writer may be rewriting, is copied first. */
static enum slot_state reader_slot(struct kv_summary_file *sf, uint64_t i, uint32_t n_tok,
    int cache, const uint8_t **out, char **err)
{
	uint64_t off;
	if (i >= sf->n_slots || slot_offset(sf, i, &off) != 0)
		return slot_verify(sf, i, n_tok, NULL, 0, err);
	const uint8_t *s = sf->map + off;
	if (n_tok < sf->p.block_tokens) {
		if (sf->buf == NULL)
			sf->buf = xmalloc((size_t)sf->slot_bytes);
		memcpy(sf->buf, s, (size_t)sf->slot_bytes);
		s = sf->buf;
		cache = 0;
	}
	int known = cache && i < sf->n_good && sf->good[i];
	enum slot_state st = slot_verify(sf, i, n_tok, s, !known, err);
	if (st == SLOT_GOOD && cache && !known) {
		if (i >= sf->n_good) {
			uint64_t n = sf->n_good ? sf->n_good : 64;
			while (n <= i)
				n *= 2;
			if (n > sf->n_slots)
				n = sf->n_slots;
			sf->good = xrealloc(sf->good, (size_t)n);
			memset(sf->good + sf->n_good, 0, (size_t)(n - sf->n_good));
			sf->n_good = n;
		}
		sf->good[i] = 1;
	}
	*out = s + SLOT_HEADER;
	return st;
}

/* --- opening and closing ------------------------------------------------------------------ */

static struct kv_summary_file *file_new(const char *path, const struct kv_file_params *p)
{
	struct kv_summary_file *sf = xcalloc(1, sizeof *sf);
	sf->path = xstrdup(path);
	sf->p = *p;
	sf->sum_bytes = kv_summary_bytes(p);
	sf->slot_bytes = (SLOT_HEADER + sf->sum_bytes + SLOT_ALIGN - 1) &
	    ~(uint64_t)(SLOT_ALIGN - 1);
	sf->fd = -1;
	return sf;
}

void kv_summary_close(struct kv_summary_file *sf)
{
	if (sf == NULL)
		return;
	if (sf->map != NULL)
		munmap((void *)sf->map, (size_t)sf->size);
	if (sf->fd >= 0)
		close(sf->fd);
	free(sf->good);
	free(sf->buf);
	free(sf->path);
	free(sf);
}

/* Open the file or, when it is missing, damaged or made for other parameters, start it afresh:
 * a new file holding the header alone replaces it durably. */
static int writer_open(struct kv_summary_file *sf, char **err)
{
	uint8_t want[HEADER_SIZE], have[HEADER_SIZE];
	header_encode(sf, want);
	sf->fd = open(sf->path, O_RDWR | O_CLOEXEC);
	if (sf->fd < 0 && errno != ENOENT)
		return q_error(err, "%s: %s", sf->path, strerror(errno));
	if (sf->fd >= 0) {
		struct stat st;
		if (fstat(sf->fd, &st) != 0)
			return q_error(err, "%s: %s", sf->path, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return q_error(err, "%s: not a regular file", sf->path);
		int rc = file_pread_full(sf->fd, sf->path, 0, have, sizeof have, err);
		if (rc < 0)
			return -1;
		if (rc == 0 && memcmp(have, want, sizeof want) == 0)
			return 0;
		close(sf->fd);
		sf->fd = -1;
	}
	if (file_replace_atomic(sf->path, want, sizeof want, err) != 0)
		return -1;
	sf->fd = open(sf->path, O_RDWR | O_CLOEXEC);
	if (sf->fd < 0)
		return q_error(err, "%s: %s", sf->path, strerror(errno));
	return 0;
}

/* Map the file and check its header: 0; 1 when the file is missing or its header is not
 * right (*err says which); -1 when it cannot be opened or mapped. */
static int reader_open(struct kv_summary_file *sf, char **err)
{
	struct stat st;
	int fd = file_open_regular(sf->path, &st, err);
	if (fd < 0) {
		struct stat lst;
		return lstat(sf->path, &lst) != 0 && errno == ENOENT ? 1 : -1;
	}
	if ((unsigned long long)st.st_size > SIZE_MAX) {
		close(fd);
		return q_error(err, "%s: file too large to map", sf->path);
	}
	sf->size = (uint64_t)st.st_size;
	if (sf->size < HEADER_SIZE) {
		close(fd);
		q_error(err, "%s: truncated header (%llu bytes of %d)", sf->path,
		    (unsigned long long)sf->size, HEADER_SIZE);
		return 1;
	}
	void *m = mmap(NULL, (size_t)sf->size, PROT_READ, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (m == MAP_FAILED)
		return q_error(err, "%s: mmap: %s", sf->path, strerror(e));
	sf->map = m;
	if (header_check(sf, sf->map, err) != 0)
		return 1;
	sf->n_slots = (sf->size - HEADER_SIZE) / sf->slot_bytes;
	return 0;
}

int kv_summary_open(const char *path, const struct kv_file_params *p, int write,
    struct kv_summary_file **out, char **err)
{
	*out = NULL;
	if (kv_file_params_check(p, path, err) != 0)
		return -1;
	struct kv_summary_file *sf = file_new(path, p);
	if ((write ? writer_open(sf, err) : reader_open(sf, err)) != 0) {
		kv_summary_close(sf);
		return -1;
	}
	*out = sf;
	return 0;
}

/* --- slots in and out --------------------------------------------------------------------- */

int kv_summary_put(struct kv_summary_file *sf, uint64_t i, uint32_t n_tok, const void *sum,
    char **err)
{
	uint64_t off;
	if (sf->fd < 0)
		return q_error(err, "%s: opened for reading, not writing", sf->path);
	if (sf->broken)
		return q_error(err, "%s: an earlier write failed; open the file again", sf->path);
	if (n_tok < 1 || n_tok > sf->p.block_tokens)
		return q_error(err, "%s: block %llu holds %u tokens (1 to %u allowed)", sf->path,
		    (unsigned long long)i, n_tok, sf->p.block_tokens);
	if (slot_offset(sf, i, &off) != 0)
		return q_error(err, "%s: no slot for block %llu (the file would be too large)",
		    sf->path, (unsigned long long)i);
	if (sf->buf == NULL)
		sf->buf = xmalloc((size_t)sf->slot_bytes);
	memcpy(sf->buf + SLOT_HEADER, sum, (size_t)sf->sum_bytes);
	memset(sf->buf + SLOT_HEADER + sf->sum_bytes, 0,
	    (size_t)(sf->slot_bytes - SLOT_HEADER - sf->sum_bytes));
	slot_header_encode(sf->buf, i, n_tok,
	    checksum64(sf->buf + SLOT_HEADER, (size_t)sf->sum_bytes, SEED_PAYLOAD));
	return write_at(sf, off, sf->buf, (size_t)sf->slot_bytes, err);
}

int kv_summary_sync(struct kv_summary_file *sf, char **err)
{
	if (sf->fd < 0)
		return q_error(err, "%s: opened for reading, not writing", sf->path);
	if (sf->broken)
		return q_error(err, "%s: an earlier write failed; open the file again", sf->path);
	/* After a failed fdatasync the kernel may have dropped the dirty pages and the next one
	 * succeed: nothing more is vouched for through this handle. */
	if (fdatasync(sf->fd) != 0) {
		sf->broken = 1;
		return q_error(err, "%s: fdatasync: %s", sf->path, strerror(errno));
	}
	return 0;
}

int kv_summary_get(struct kv_summary_file *sf, uint64_t i, uint32_t n_tok, const void **sum,
    char **err)
{
	*sum = NULL;
	const uint8_t *s;
	if (sf->map != NULL) {
		if (reader_slot(sf, i, n_tok, 1, &s, err) != SLOT_GOOD)
			return -1;
		*sum = s;
		return 0;
	}
	uint64_t off;
	if (slot_offset(sf, i, &off) != 0) {
		slot_verify(sf, i, n_tok, NULL, 0, err);
		return -1;
	}
	if (sf->buf == NULL)
		sf->buf = xmalloc((size_t)sf->slot_bytes);
	int rc = file_pread_full(sf->fd, sf->path, off, sf->buf, (size_t)sf->slot_bytes, err);
	if (rc < 0)
		return -1;
	if (slot_verify(sf, i, n_tok, rc == 0 ? sf->buf : NULL, 1, err) != SLOT_GOOD)
		return -1;
	*sum = sf->buf + SLOT_HEADER;
	return 0;
}

/* --- checking ----------------------------------------------------------------------------- */

int kv_summary_check(const char *path, const struct kv_file_params *p, uint64_t n_blocks,
    uint32_t (*tokens)(void *ctx, uint64_t i), void (*report)(void *ctx, const char *msg),
    void *ctx, uint64_t *problems, char **err)
{
	*problems = 0;
	if (kv_file_params_check(p, path, err) != 0)
		return -1;
	struct kv_summary_file *sf = file_new(path, p);
	char *msg = NULL;
	int rc = reader_open(sf, &msg);
	if (rc != 0) {
		kv_summary_close(sf);
		if (rc < 0) {
			q_error(err, "%s", msg);
			free(msg);
			return -1;
		}
		report(ctx, msg);
		free(msg);
		*problems = 1;
		return 0;
	}
	/* Blocks without a slot come in runs (a file cut short, an index run lost): one message
	 * for each run, the block's own message for a run of one. */
	char *first = NULL;       /* the message of the run's first block */
	uint64_t run = 0;         /* blocks in the run, which ends at block i - 1 */
	for (uint64_t i = 0; i <= n_blocks; i++) {
		enum slot_state st = SLOT_GOOD;
		if (i < n_blocks) {
			const uint8_t *s;
			st = reader_slot(sf, i, tokens(ctx, i), 0, &s, &msg);
		}
		if (st == SLOT_MISSING) {
			if (run++ == 0) {
				first = msg;
				msg = NULL;
			}
			continue;
		}
		if (run == 1) {
			report(ctx, first);
		} else if (run > 1) {
			char *m = xasprintf("%s: summaries of blocks %llu to %llu are missing", path,
			    (unsigned long long)(i - run), (unsigned long long)(i - 1));
			report(ctx, m);
			free(m);
		}
		*problems += run;
		run = 0;
		free(first);
		first = NULL;
		if (st == SLOT_DAMAGED) {
			report(ctx, msg);
			(*problems)++;
		}
	}
	free(msg);
	kv_summary_close(sf);
	return 0;
}

char *kv_summary_path(const char *kv_path)
{
	size_t n = strlen(kv_path);
	if (n >= 3 && strcmp(kv_path + n - 3, ".kv") == 0)
		n -= 3;
	return xasprintf("%.*s.sum", (int)n, kv_path);
}
