/* t-kv-file.c: the KV cache file (engine/kv-file.c) and its checksum (lib/checksum.c): pinned
 * checksum values and their sensitivity; round trips in f16 and q8_0; crashes simulated by
 * closing without a commit and by cutting the file at many offsets, after which a reader sees
 * the last commit left whole and a resumed writer makes the uninterrupted file byte for byte;
 * superseded partial blocks; damaged payloads, headers, commits and record headers; intact
 * records that break the rules; every parameter mismatch; a format from the future; a second
 * writer. The fuzz seeds (tests/fuzz/kv-file-corpus) must be what this writer makes today:
 * `tests/t-kv-file --write-corpus DIR` writes them. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/kv-file.h"
#include "engine/sample.h"
#include "lib/checksum.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tests/tap.h"

static char tmp[1024];        /* this run's folder */
static uint64_t salt;         /* varies the payloads: another file of the same shape */

/* n_layer 2, one KV head of 32, blocks of 16 tokens: 64-byte f16 rows, 4096-byte blocks. */
static struct kv_file_params small_params(uint32_t dtype)
{
	struct kv_file_params p = {
		.model_id = 0x1111222233334444ull, .rope_id = 0x5555666677778888ull,
		.dtype = dtype, .block_tokens = 16, .sinks = 4, .window = UINT32_MAX,
		.n_layer = 2, .n_head_kv = 1, .head_dim = 32,
	};
	return p;
}

static char *tpath(const char *name)
{
	return xasprintf("%s/%s", tmp, name);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	char *data, *err = NULL;
	if (file_read_all(path, 1u << 26, &data, len, &err) != 0) {
		diag("%s", err);
		free(err);
		*len = 0;
		return NULL;
	}
	return (uint8_t *)data;
}

static void spit(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) != 0)
		diag("could not write %s", path);
}

static int same_bytes(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	return a != NULL && b != NULL && na == nb && memcmp(a, b, na) == 0;
}

static int files_equal(const char *x, const char *y)
{
	size_t nx, ny;
	uint8_t *a = slurp(x, &nx), *b = slurp(y, &ny);
	int eq = same_bytes(a, nx, b, ny);
	free(a);
	free(b);
	return eq;
}

/* --- payloads ----------------------------------------------------------------------------- */

static size_t rows_bytes(const struct kv_file_params *p)
{
	return kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim) * p->block_tokens;
}

/* Block b's payload as a caller hands it over: seeded bytes in the rows of its n_tok tokens and
 * 0xa5 past them, which the writer must turn into zeros. */
static void fill_payload(const struct kv_file_params *p, uint64_t b, uint32_t n_tok, uint8_t *out)
{
	size_t bb = kv_file_block_bytes(p), seg = rows_bytes(p), row = seg / p->block_tokens;
	uint64_t s = b * 1000003 + n_tok + (salt << 32);
	for (size_t i = 0; i < bb; i++)
		out[i] = (i % seg) / row < n_tok ? (uint8_t)splitmix64(&s) : 0xa5;
}

/* What kv_file_block_rows must give for layer l, kind k of that block. */
static void want_rows(const struct kv_file_params *p, uint64_t b, uint32_t n_tok, uint32_t l,
    int k, uint8_t *out)
{
	size_t seg = rows_bytes(p), row = seg / p->block_tokens;
	uint8_t *all = xmalloc(kv_file_block_bytes(p));
	fill_payload(p, b, n_tok, all);
	memcpy(out, all + (2 * (size_t)l + (size_t)k) * seg, seg);
	memset(out + (size_t)n_tok * row, 0, seg - (size_t)n_tok * row);
	free(all);
}

/* --- plans: a writer's calls as data ------------------------------------------------------ */

struct op {
	int commit;               /* 1: commit; 0: append */
	uint64_t block;           /* append: block index */
	uint32_t n_tok;           /* append: tokens */
};

#define APPEND(i, n) { 0, (i), (n) }
#define COMMIT { 1, 0, 0 }

/* Five commits, the partial block 6 superseded by a full one, block 7 filled in two steps. */
static const struct op steps[] = {
	APPEND(0, 16), APPEND(1, 16), APPEND(2, 16), COMMIT,
	APPEND(3, 16), APPEND(4, 16), COMMIT,
	APPEND(5, 16), APPEND(6, 9), COMMIT,
	APPEND(6, 16), APPEND(7, 5), COMMIT,
	APPEND(7, 12), COMMIT,
};
#define PLAN_LEN Q_ARRAY_LEN(steps)

/* Open a writer on path and make the calls ops[from..to); 0 or -1 (said with diag). The commit
 * counts follow the blocks; n_docs and layout_hash are made up from them. */
static int run_plan(const char *path, const struct kv_file_params *p, const struct op *ops,
    size_t from, size_t to)
{
	struct kv_file *w;
	char *err = NULL;
	if (kv_file_open_write(path, p, "index", &w, &err) != 0) {
		diag("%s", err);
		free(err);
		return -1;
	}
	struct kv_file_commit c;
	kv_file_last_commit(w, &c);
	uint32_t toks[64] = { 0 };
	for (uint64_t i = 0; i < c.n_blocks && i < 64; i++)
		toks[i] = kv_file_block_tokens(w, i);
	uint64_t n_blocks = c.n_blocks, n_tokens = c.n_tokens;
	uint8_t *payload = xmalloc(kv_file_block_bytes(p));
	int rc = 0;
	for (size_t k = from; k < to && rc == 0; k++) {
		if (ops[k].commit) {
			struct kv_file_commit nc = { 0, n_tokens, n_blocks, n_blocks * 10,
			    0xfeedfacecafebeefull ^ n_tokens };
			rc = kv_file_commit(w, &nc, &err);
			continue;
		}
		uint64_t i = ops[k].block;
		fill_payload(p, i, ops[k].n_tok, payload);
		rc = kv_file_append_block(w, i, ops[k].n_tok, payload, &err);
		if (rc == 0) {
			if (i == n_blocks)
				n_blocks++;
			else
				n_tokens -= toks[i];
			toks[i] = ops[k].n_tok;
			n_tokens += ops[k].n_tok;
		}
	}
	if (rc != 0)
		diag("%s", err);
	free(err);
	free(payload);
	kv_file_close(w);
	return rc;
}

/* The op index just after commit seq (0 for seq 0). */
static size_t after_commit(const struct op *ops, size_t n, uint64_t seq)
{
	uint64_t s = 0;
	for (size_t k = 0; k < n && s < seq; k++)
		if (ops[k].commit && ++s == seq)
			return k + 1;
	return 0;
}

/* Where each op's record starts in the file (off[n] = the end) and the blocks and tokens the
 * commits vouch for (indexed by seq). */
struct layout {
	uint64_t off[64];
	uint64_t blocks[16], tokens[16];
	uint64_t n_commits;
};

static void plan_layout(const struct kv_file_params *p, const struct op *ops, size_t n,
    struct layout *lay)
{
	uint64_t off = KV_FILE_HEADER_SIZE, rec = (64 + kv_file_block_bytes(p) + 63) / 64 * 64;
	uint64_t n_blocks = 0, n_tokens = 0, toks[64] = { 0 };
	memset(lay, 0, sizeof *lay);
	for (size_t k = 0; k < n; k++) {
		lay->off[k] = off;
		if (ops[k].commit) {
			lay->n_commits++;
			lay->blocks[lay->n_commits] = n_blocks;
			lay->tokens[lay->n_commits] = n_tokens;
			off += 128;
			continue;
		}
		if (ops[k].block == n_blocks)
			n_blocks++;
		n_tokens += ops[k].n_tok - toks[ops[k].block];
		toks[ops[k].block] = ops[k].n_tok;
		off += rec;
	}
	lay->off[n] = off;
}

/* The last commit a file cut at t keeps: its payload must be whole (64 + 40 bytes). */
static uint64_t seq_kept(const struct op *ops, size_t n, const struct layout *lay, uint64_t t)
{
	uint64_t seq = 0, s = 0;
	for (size_t k = 0; k < n; k++)
		if (ops[k].commit && (++s, lay->off[k] + 104 <= t))
			seq = s;
	return seq;
}

static uint64_t last_seq(const char *path, const struct kv_file_params *expect, char **err)
{
	struct kv_file *f;
	if (kv_file_open_read(path, expect, &f, err) != 0)
		return UINT64_MAX;
	struct kv_file_commit c;
	kv_file_last_commit(f, &c);
	kv_file_close(f);
	return c.seq;
}

/* --- reports from kv_file_check ----------------------------------------------------------- */

struct reports {
	int n;
	char *msg[8];
};

static void collect(void *ctx, const char *msg)
{
	struct reports *r = ctx;
	if (r->n < 8)
		r->msg[r->n] = xstrdup(msg);
	r->n++;
}

static void reports_free(struct reports *r)
{
	for (int i = 0; i < r->n && i < 8; i++)
		free(r->msg[i]);
	r->n = 0;
}

/* --- checksum64 --------------------------------------------------------------------------- */

static void test_checksum(void)
{
	uint8_t buf[4096 + 16];
	uint64_t s = 7;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)splitmix64(&s);

	/* Pinned: these values are in every KV file written; a change needs a format bump. */
	uint8_t seq[100];
	for (int i = 0; i < 100; i++)
		seq[i] = (uint8_t)i;
	is_int((long long)checksum64(NULL, 0, 0), (long long)0x93351475dd625ff1ull, "checksum64 of nothing");
	is_int((long long)checksum64("a", 1, 0), (long long)0x29a47e82155711c9ull, "checksum64 of \"a\"");
	is_int((long long)checksum64("quire", 5, 1), (long long)0xd567ad75a4b7ced9ull,
	    "checksum64 of \"quire\", seed 1");
	is_int((long long)checksum64(seq, 31, 0), (long long)0xb543618cdd584dceull, "checksum64 of 0..30");
	is_int((long long)checksum64(seq, 100, 0), (long long)0x50475cbe17dbc163ull, "checksum64 of 0..99");
	is_int((long long)checksum64(buf, 4096, 42), (long long)0xc4008e31e98daab0ull, "checksum64 of 4 KiB, seed 42");

	int bad = 0;
	for (int z = 0; z < 2; z++) {
		const uint8_t *d = z ? buf : (const uint8_t *)calloc(1, 128);
		for (size_t n = 1; n <= 100; n++)
			if (checksum64(d, n, 0) == checksum64(d, n - 1, 0))
				bad++;
		if (!z)
			free((void *)d);
	}
	is_int(bad, 0, "every length 0..100 hashes apart from its neighbours (zeros and random)");

	uint64_t h = checksum64(buf, 4096, 0);
	bad = 0;
	for (size_t bit = 0; bit < 4096 * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (checksum64(buf, 4096, 0) == h)
			bad++;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	is_int(bad, 0, "each of the 32768 single-bit flips of a 4 KiB buffer changes the hash");

	/* Output bits flip about half the time for one flipped input bit (a loose avalanche). */
	int flips = 0, trials = 0;
	for (size_t bit = 0; bit < 4096 * 8; bit += 97) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		flips += __builtin_popcountll(checksum64(buf, 4096, 0) ^ h);
		trials++;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	double mean = (double)flips / trials;
	ok(mean > 30 && mean < 34, "a flipped input bit flips %.2f of 64 output bits on average", mean);

	bad = 0;
	uint8_t *big = xmalloc(4096 + 64);
	for (size_t shift = 1; shift < 8; shift++) {
		memcpy(big + shift, buf, 4096);
		for (size_t n = 0; n <= 4096; n += n < 80 ? 1 : 61)
			if (checksum64(big + shift, n, 3) != checksum64(buf, n, 3))
				bad++;
	}
	free(big);
	is_int(bad, 0, "unaligned input hashes as aligned input (shifts 1..7, many lengths)");
	ok(checksum64(buf, 64, 1) != checksum64(buf, 64, 2) &&
	    checksum64(NULL, 0, 1) != checksum64(NULL, 0, 2), "the seed changes the hash");

	/* Speed, for the record (a shared machine makes a bound flaky): 1 MiB, in cache. */
	size_t n = 1u << 20;
	uint8_t *m = xmalloc(n);
	memset(m, 1, n);
	uint64_t acc = checksum64(m, n, 0);
	double t0 = q_now();
	for (int r = 0; r < 256; r++)
		acc ^= checksum64(m, n, (uint64_t)r);
	double dt = q_now() - t0;
	diag("checksum64: %.1f GB/s (%llx)", 256.0 * (double)n / dt / 1e9, (unsigned long long)acc);
	free(m);
}

/* --- parameters and names ----------------------------------------------------------------- */

static const char *const field_names[] = {
	"model", "RoPE configuration", "KV type", "block size", "attention sinks",
	"local window", "layer count", "KV head count", "head dimension",
};

/* p with field k changed to another valid value, and the values as messages show them. */
static struct kv_file_params changed(int k, const char **was, const char **now)
{
	struct kv_file_params q = small_params(0);
	switch (k) {
	case 0: q.model_id++; *was = "1111222233334444"; *now = "1111222233334445"; break;
	case 1: q.rope_id ^= 1ull << 63; *was = "5555666677778888"; *now = "d555666677778888";
		break;
	case 2: q.dtype = 1; *was = "f16"; *now = "q8_0"; break;
	case 3: q.block_tokens = 32; *was = "16"; *now = "32"; break;
	case 4: q.sinks = 0; *was = "4"; *now = "0"; break;
	case 5: q.window = 1024; *was = "unbounded"; *now = "1024"; break;
	case 6: q.n_layer = 3; *was = "2"; *now = "3"; break;
	case 7: q.n_head_kv = 2; *was = "1"; *now = "2"; break;
	default: q.head_dim = 64; *was = "32"; *now = "64"; break;
	}
	return q;
}

static void test_params(void)
{
	struct kv_file_params p = small_params(0);
	uint64_t fp[10];
	fp[9] = kv_file_fingerprint(&p);
	int same = 0;
	for (int k = 0; k < 9; k++) {
		const char *a, *b;
		struct kv_file_params q = changed(k, &a, &b);
		fp[k] = kv_file_fingerprint(&q);
		if (fp[k] == fp[9])
			diag("changing the %s leaves the fingerprint", field_names[k]);
	}
	for (int i = 0; i < 10; i++)
		for (int j = i + 1; j < 10; j++)
			same += fp[i] == fp[j];
	is_int(same, 0, "the fingerprint changes with every parameter (10 distinct)");

	char *name = kv_file_name(&p), want[32];
	snprintf(want, sizeof want, "%016llx.kv", (unsigned long long)fp[9]);
	is_str(name, want, "kv_file_name is the fingerprint in 16 hex digits and .kv");
	ok(strlen(name) == 19 && strspn(name, "0123456789abcdef") == 16,
	    "kv_file_name has the form <16 lower-case hex digits>.kv");
	free(name);

	is_int((long long)kv_file_row_bytes(0, 32), 64, "f16 rows: 2 bytes a value");
	is_int((long long)kv_file_row_bytes(1, 64), 68, "q8_0 rows: 34 bytes per 32 values");
	ok(kv_file_row_bytes(1, 48) == 0 && kv_file_row_bytes(2, 32) == 0 &&
	    kv_file_row_bytes(0, 0) == 0, "row bytes 0 for q8_0 off 32, unknown types, no values");
	is_int((long long)kv_file_block_bytes(&p), 2 * 2 * 16 * 64, "block bytes, f16");
	struct kv_file_params q = small_params(1);
	is_int((long long)kv_file_block_bytes(&q), 2 * 2 * 16 * 34, "block bytes, q8_0");

	static const struct { int field; uint32_t v; const char *want; } bad[] = {
		{ 2, 2, "x: unknown KV type 2" },
		{ 3, 100, "x: block size 100 is not a multiple of 16 from 16 to 4096" },
		{ 3, 8, "x: block size 8 is not a multiple of 16 from 16 to 4096" },
		{ 3, 4112, "x: block size 4112 is not a multiple of 16 from 16 to 4096" },
		{ 6, 0, "x: layer count 0 is not between 1 and 1024" },
		{ 7, 1025, "x: KV head count 1025 is not between 1 and 1024" },
		{ 8, 0, "x: head dimension 0 is not between 1 and 1024" },
	};
	for (size_t i = 0; i < Q_ARRAY_LEN(bad); i++) {
		struct kv_file_params r = small_params(0);
		uint32_t *f[] = { NULL, NULL, &r.dtype, &r.block_tokens, NULL, NULL, &r.n_layer,
		    &r.n_head_kv, &r.head_dim };
		*f[bad[i].field] = bad[i].v;
		char *err = NULL;
		ok(kv_file_params_check(&r, "x", &err) == -1 && kv_file_block_bytes(&r) == 0,
		    "refused: %s", bad[i].want);
		is_str(err, bad[i].want, "... with that message");
		free(err);
	}
	q.head_dim = 48;
	char *err = NULL;
	kv_file_params_check(&q, "x", &err);
	is_str(err, "x: head dimension 48 is not a multiple of 32, as q8_0 needs",
	    "q8_0 needs head_dim a multiple of 32");
	free(err);
}

/* --- round trips -------------------------------------------------------------------------- */

/* Every row of every committed block of f against the plan's payloads (tokens per block in
 * toks); the count of mismatches. */
static int rows_mismatch(struct kv_file *f, const uint32_t *toks, uint64_t n_blocks)
{
	const struct kv_file_params *p = kv_file_get_params(f);
	size_t seg = rows_bytes(p);
	uint8_t *want = xmalloc(seg);
	int bad = 0;
	for (uint64_t i = 0; i < n_blocks; i++) {
		if (kv_file_block_tokens(f, i) != toks[i])
			bad++;
		for (uint32_t l = 0; l < p->n_layer; l++) {
			for (int k = 0; k < 2; k++) {
				const void *rows;
				char *err = NULL;
				if (kv_file_block_rows(f, i, l, k, &rows, &err) != 0) {
					diag("%s", err);
					free(err);
					bad++;
					continue;
				}
				want_rows(p, i, toks[i], l, k, want);
				if (memcmp(rows, want, seg) != 0)
					bad++;
			}
		}
	}
	free(want);
	return bad;
}

static void test_round_trip(uint32_t dtype)
{
	const char *tn = dtype ? "q8_0" : "f16";
	struct kv_file_params p = small_params(dtype);
	char *path = tpath(dtype ? "rt-q8.kv" : "rt-f16.kv");
	static const struct op five[] = {
		APPEND(0, 16), APPEND(1, 16), APPEND(2, 16), APPEND(3, 16), APPEND(4, 7), COMMIT,
	};
	static const uint32_t toks[] = { 16, 16, 16, 16, 7 };
	ok(run_plan(path, &p, five, 0, Q_ARRAY_LEN(five)) == 0, "%s: 5 blocks written", tn);

	struct kv_file *f = NULL;
	char *err = NULL;
	ok(kv_file_open_read(path, &p, &f, &err) == 0, "%s: the reader opens it", tn);
	if (f == NULL) {
		diag("%s", err);
		free(err);
		free(path);
		return;
	}
	struct kv_file_commit c;
	kv_file_last_commit(f, &c);
	ok(c.seq == 1 && c.n_tokens == 71 && c.n_blocks == 5 && c.n_docs == 50 &&
	    c.layout_hash == (0xfeedfacecafebeefull ^ 71), "%s: the commit reads back", tn);
	is_int(kv_file_block_tokens(f, 5), 0, "%s: no block 5", tn);
	is_int(rows_mismatch(f, toks, 5), 0,
	    "%s: every row of every block reads back, the partial block zero past its 7 tokens", tn);
	const void *rows;
	ok(kv_file_block_rows(f, 5, 0, 0, &rows, &err) == -1 && rows == NULL &&
	    kv_file_block_rows(f, 0, 2, 0, &rows, &err) == -1 &&
	    kv_file_block_rows(f, 0, 0, 2, &rows, &err) == -1,
	    "%s: blocks, layers and kinds out of range are refused", tn);
	const struct kv_file_params *g = kv_file_get_params(f);
	ok(g->model_id == p.model_id && g->rope_id == p.rope_id && g->dtype == p.dtype &&
	    g->block_tokens == p.block_tokens && g->sinks == p.sinks && g->window == p.window &&
	    g->n_layer == p.n_layer && g->n_head_kv == p.n_head_kv && g->head_dim == p.head_dim,
	    "%s: the parameters read back", tn);
	kv_file_close(f);

	/* The writer reads committed rows too, and keeps showing the committed block 4 while a
	 * newer record for it waits for its commit. */
	struct kv_file *w = NULL;
	uint8_t *payload = xmalloc(kv_file_block_bytes(&p));
	ok(kv_file_open_write(path, &p, "index", &w, &err) == 0, "%s: the writer reopens it", tn);
	if (w != NULL) {
		is_int(rows_mismatch(w, toks, 5), 0, "%s: the writer reads the same rows", tn);
		fill_payload(&p, 4, 16, payload);
		ok(kv_file_append_block(w, 4, 16, payload, &err) == 0, "%s: block 4 superseded", tn);
		is_int(kv_file_block_tokens(w, 4), 7, "%s: ... uncommitted: still 7 tokens", tn);
		is_int(rows_mismatch(w, toks, 5), 0, "%s: ... and the committed rows", tn);
		struct kv_file_commit nc = { 0, 80, 5, 50, 1 };
		ok(kv_file_commit(w, &nc, &err) == 0 && nc.seq == 2, "%s: committed as seq 2", tn);
		static const uint32_t full[] = { 16, 16, 16, 16, 16 };
		is_int(rows_mismatch(w, full, 5), 0, "%s: now block 4 is the full one", tn);
		kv_file_close(w);
	}
	free(payload);

	struct reports r = { 0 };
	uint64_t problems = 99;
	ok(kv_file_check(path, collect, &r, &problems, &err) == 0 && problems == 0 && r.n == 0,
	    "%s: kv_file_check finds nothing to say", tn);
	reports_free(&r);
	free(err);
	free(path);
}

/* --- crashes and resumes ------------------------------------------------------------------ */

static void test_resume(void)
{
	struct kv_file_params p = small_params(0);
	struct layout lay;
	plan_layout(&p, steps, PLAN_LEN, &lay);
	char *ref = tpath("ref.kv"), *ref2 = tpath("ref2.kv"), *x = tpath("x.kv");
	ok(run_plan(ref, &p, steps, 0, PLAN_LEN) == 0, "the reference file is written");
	ok(run_plan(ref2, &p, steps, 0, PLAN_LEN) == 0 && files_equal(ref, ref2),
	    "a second writer given the same calls writes the same bytes");
	size_t len;
	uint8_t *r = slurp(ref, &len);
	is_int((long long)len, (long long)lay.off[PLAN_LEN], "the file is as long as the layout");

	/* Reopened between commits: the same file. */
	unlink(x);
	int rc = 0;
	for (uint64_t seq = 1; seq <= lay.n_commits; seq++)
		rc |= run_plan(x, &p, steps, after_commit(steps, PLAN_LEN, seq - 1),
		    after_commit(steps, PLAN_LEN, seq));
	ok(rc == 0 && files_equal(ref, x), "a writer closed and reopened at every commit: same file");

	/* Closed with blocks after the last commit (a crash before the commit): the reader sees
	 * the commit before, the writer cuts the blocks off and makes the same file. */
	int bad_seq = 0, bad_file = 0;
	for (uint64_t seq = 0; seq < lay.n_commits; seq++) {
		size_t from = after_commit(steps, PLAN_LEN, seq), upto = after_commit(steps, PLAN_LEN,
		    seq + 1) - 1;
		unlink(x);
		char *err = NULL;
		if (run_plan(x, &p, steps, 0, upto) != 0 || last_seq(x, &p, &err) != seq)
			bad_seq++;
		free(err);
		if (run_plan(x, &p, steps, from, PLAN_LEN) != 0 || !files_equal(ref, x))
			bad_file++;
	}
	is_int(bad_seq, 0, "blocks appended without their commit are not seen");
	is_int(bad_file, 0, "... and a resumed writer makes the uninterrupted file");

	/* The superseding record of a committed partial block, then a crash: the old one counts. */
	unlink(x);
	struct kv_file *f = NULL;
	char *err = NULL;
	size_t sup = after_commit(steps, PLAN_LEN, 3);   /* APPEND(6, 16) */
	run_plan(x, &p, steps, 0, sup + 1);
	if (kv_file_open_read(x, &p, &f, &err) == 0) {
		static const uint32_t toks[] = { 16, 16, 16, 16, 16, 16, 9 };
		is_int(kv_file_block_tokens(f, 6), 9, "an uncommitted supersede leaves block 6 at 9");
		is_int(rows_mismatch(f, toks, 7), 0, "... with its old rows");
		kv_file_close(f);
	} else {
		ok(0, "open after an uncommitted supersede: %s", err);
		ok(0, "... rows");
	}
	ok(run_plan(x, &p, steps, sup, PLAN_LEN) == 0 && files_equal(ref, x),
	    "the writer resumes it into the same file");
	if (kv_file_open_read(ref, &p, &f, &err) == 0) {
		static const uint32_t toks[] = { 16, 16, 16, 16, 16, 16, 16, 12 };
		is_int(rows_mismatch(f, toks, 8), 0,
		    "superseded blocks read as their last record (6: 16 tokens, 7: 12)");
		kv_file_close(f);
	} else {
		ok(0, "open the reference: %s", err);
	}

	/* Cut at many offsets: every multiple of 64 and its neighbours for the reader; for the
	 * writer (fdatasync costs) around each record's start, inside its header, at the end of
	 * the header and inside a payload, and where a commit's payload becomes whole. */
	int bad_reader = 0, bad_writer = 0, resumed = 0;
	for (uint64_t t = 0; t <= len; t++) {
		int reader = t % 64 == 0 || t % 64 == 1 || t % 64 == 63 || t % 64 == 40 ||
		    t % 64 == 41;
		int writer = 0;
		for (size_t k = 0; k <= PLAN_LEN; k++) {
			uint64_t o = lay.off[k];
			writer |= t == o || t == o + 1 || t == o + 64 ||
			    (k < PLAN_LEN && steps[k].commit ? t == o + 103 || t == o + 104 :
			    t == o + 2000);
		}
		writer |= t < KV_FILE_HEADER_SIZE && t % 1000 == 0;
		if (!reader && !writer)
			continue;
		spit(x, r, (size_t)t);
		uint64_t want = seq_kept(steps, PLAN_LEN, &lay, t), got = last_seq(x, &p, &err);
		if (t < KV_FILE_HEADER_SIZE ? got != UINT64_MAX ||
		    strstr(err, ": truncated header") == NULL : got != want) {
			if (bad_reader++ < 3)
				diag("cut at %llu: seq %lld, want %llu (%s)", (unsigned long long)t,
				    (long long)got, (unsigned long long)want, err ? err : "");
		}
		free(err);
		err = NULL;
		if (!writer)
			continue;
		resumed++;
		if (run_plan(x, &p, steps, after_commit(steps, PLAN_LEN, t < KV_FILE_HEADER_SIZE ? 0 :
		    want), PLAN_LEN) != 0 || !files_equal(ref, x)) {
			if (bad_writer++ < 3)
				diag("cut at %llu: the resumed file differs", (unsigned long long)t);
		}
	}
	is_int(bad_reader, 0, "a file cut anywhere shows the last commit left whole");
	is_int(bad_writer, 0, "a writer resumed after %d cuts makes the uninterrupted file", resumed);
	free(r);
	free(ref);
	free(ref2);
	free(x);
}

/* --- damage ------------------------------------------------------------------------------- */

/* Copy ref to name with byte at flipped (xor 0x40); the new path. */
static char *damaged_copy(const uint8_t *r, size_t len, const char *name, uint64_t at)
{
	char *path = tpath(name);
	uint8_t *d = xmalloc(len);
	memcpy(d, r, len);
	d[at] ^= 0x40;
	spit(path, d, len);
	free(d);
	return path;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_damage(void)
{
	struct kv_file_params p = small_params(0);
	struct layout lay;
	plan_layout(&p, steps, PLAN_LEN, &lay);
	char *ref = tpath("ref.kv");
	size_t len;
	uint8_t *r = slurp(ref, &len);
	if (r == NULL) {
		ok(0, "no reference file");
		free(ref);
		return;
	}
	char *err = NULL, want[512];
	struct reports rep = { 0 };
	uint64_t problems;
	struct kv_file *f;

	/* A flipped byte in block 1's payload. */
	char *x = damaged_copy(r, len, "payload.kv", lay.off[1] + 64 + 2000);
	ok(kv_file_open_read(x, &p, &f, &err) == 0, "a damaged payload does not stop the open");
	if (f != NULL) {
		const void *rows;
		snprintf(want, sizeof want, "%s: block 1 is damaged (checksum)", x);
		ok(kv_file_block_rows(f, 0, 1, 1, &rows, &err) == 0, "block 0 reads");
		ok(kv_file_block_rows(f, 1, 0, 0, &rows, &err) == -1 && rows == NULL,
		    "block 1 does not");
		is_str(err, want, "... naming it");
		ok(kv_file_block_rows(f, 1, 1, 1, &rows, &err) == -1, "... nor any other of its rows");
		kv_file_close(f);
	}
	ok(kv_file_check(x, collect, &rep, &problems, &err) == 0 && problems == 1 && rep.n == 1,
	    "kv_file_check counts one problem");
	is_str(rep.n ? rep.msg[0] : NULL, want, "... naming block 1");
	reports_free(&rep);
	free(x);

	/* The header: a parameter byte, the padding, the checksum itself. */
	static const uint64_t header_at[] = { 20, 1000, 4090 };
	for (size_t i = 0; i < Q_ARRAY_LEN(header_at); i++) {
		x = damaged_copy(r, len, "header.kv", header_at[i]);
		snprintf(want, sizeof want, "%s: header is damaged (checksum)", x);
		ok(kv_file_open_read(x, NULL, &f, &err) == -1, "header byte %llu flipped: refused",
		    (unsigned long long)header_at[i]);
		is_str(err, want, "... naming the header");
		ok(kv_file_open_write(x, &p, "index", &f, &err) == -1 && strcmp(err, want) == 0,
		    "... by the writer too");
		uint8_t *after = slurp(x, &len);
		uint8_t *d = xmalloc(len);
		memcpy(d, r, len);
		d[header_at[i]] ^= 0x40;
		ok(same_bytes(after, len, d, len), "... which leaves the file alone");
		free(d);
		free(after);
		ok(kv_file_check(x, collect, &rep, &problems, &err) == 0 && problems == 1 &&
		    rep.n == 1 && strcmp(rep.msg[0], want) == 0, "... and kv_file_check says so");
		reports_free(&rep);
		free(x);
	}

	/* Commit 2, in its record header and in its payload: commits 2.. are not trusted. */
	size_t c2 = after_commit(steps, PLAN_LEN, 2) - 1;
	static const uint64_t commit_at[] = { 10, 64 + 3 };
	for (size_t i = 0; i < Q_ARRAY_LEN(commit_at); i++) {
		x = damaged_copy(r, len, "commit.kv", lay.off[c2] + commit_at[i]);
		is_int((long long)last_seq(x, &p, &err), 1,
		    "commit 2 damaged at byte %llu of its record: commit 1 is the last",
		    (unsigned long long)commit_at[i]);
		/* A damaged record header hides the commits after it; a damaged payload leaves the
		 * record header that names the commit. */
		if (commit_at[i] < 64)
			snprintf(want, sizeof want, "%s: the record at byte %llu is damaged and hides "
			    "commit 3 at byte %llu; nothing after commit 1 is trusted", x,
			    (unsigned long long)lay.off[c2], (unsigned long long)lay.off[c2 + 3]);
		else
			snprintf(want, sizeof want, "%s: the commit record at byte %llu (commit 2) is "
			    "damaged; nothing after commit 1 is trusted", x,
			    (unsigned long long)lay.off[c2]);
		ok(kv_file_check(x, collect, &rep, &problems, &err) == 0 && problems == 1 &&
		    rep.n == 1, "... kv_file_check counts one problem");
		is_str(rep.n ? rep.msg[0] : NULL, want, "... naming the damage");
		reports_free(&rep);
		ok(run_plan(x, &p, steps, after_commit(steps, PLAN_LEN, 1), PLAN_LEN) == 0 &&
		    files_equal(ref, x), "... and a writer rebuilds the rest as before");
		free(x);
	}

	/* Block 3's record header: the scan stops there and commit 2 is lost. */
	x = damaged_copy(r, len, "record.kv", lay.off[4] + 9);
	is_int((long long)last_seq(x, &p, &err), 1, "a damaged block record header ends the scan");
	snprintf(want, sizeof want, "%s: the record at byte %llu is damaged and hides commit 2 at "
	    "byte %llu; nothing after commit 1 is trusted", x, (unsigned long long)lay.off[4],
	    (unsigned long long)lay.off[c2]);
	ok(kv_file_check(x, collect, &rep, &problems, &err) == 0 && problems == 1 && rep.n == 1,
	    "... kv_file_check counts one problem");
	is_str(rep.n ? rep.msg[0] : NULL, want, "... the damage that hides commit 2");
	reports_free(&rep);
	free(x);

	/* Block 1's record taken whole from another file: its own checksums hold, but commit 1's
	 * chain does not vouch for it. */
	char *other = tpath("other.kv");
	salt = 1;
	int made = run_plan(other, &p, steps, 0, PLAN_LEN);
	salt = 0;
	size_t olen;
	uint8_t *o = slurp(other, &olen);
	if (made == 0 && o != NULL && olen == len) {
		uint8_t *sp = xmalloc(len);
		memcpy(sp, r, len);
		memcpy(sp + lay.off[1], o + lay.off[1], lay.off[2] - lay.off[1]);
		x = tpath("splice.kv");
		spit(x, sp, len);
		ok(memcmp(sp, r, len) != 0, "the spliced file differs");
		is_int((long long)last_seq(x, &p, &err), 0, "a spliced block record breaks the chain: "
		    "no commit is trusted");
		snprintf(want, sizeof want, "%s: the commit record at byte %llu (commit 1) is damaged; "
		    "nothing after commit 0 is trusted", x, (unsigned long long)lay.off[3]);
		ok(kv_file_check(x, collect, &rep, &problems, &err) == 0 && problems == 1 &&
		    rep.n == 1, "... kv_file_check counts one problem");
		is_str(rep.n ? rep.msg[0] : NULL, want, "... commit 1");
		reports_free(&rep);
		free(sp);
		free(x);
	} else {
		ok(0, "a second file for splicing");
	}
	free(o);
	free(other);

	/* Resealing an intact file changes nothing: it computes what the writer wrote. */
	uint8_t *d = xmalloc(len);
	memcpy(d, r, len);
	kv_file_reseal(d, len);
	ok(memcmp(d, r, len) == 0, "kv_file_reseal of an intact file changes no byte");

	/* Intact records that break the rules, before a commit: the file is corrupt. */
	static const struct { uint64_t op; int at; uint64_t v; int size; const char *why; } rules[] = {
		{ 1, 8, 5, 8, "a record for block 5 where block 1 comes next" },
		{ 0, 4, 0, 4, "block 0 holds 0 tokens (1 to 16 allowed)" },
		{ 2, 4, 17, 4, "block 2 holds 17 tokens (1 to 16 allowed)" },
		{ 6, 64 + 0, 81, 8, "commit 2 says 81 tokens in 5 blocks, the blocks before it hold "
		    "80 tokens in 5" },
		{ 6, 8, 3, 8, "commit 3 follows commit 1" },
	};
	for (size_t i = 0; i < Q_ARRAY_LEN(rules); i++) {
		memcpy(d, r, len);
		uint8_t *at = d + lay.off[rules[i].op] + rules[i].at;
		if (rules[i].size == 8)
			put_le64(at, rules[i].v);
		else
			at[0] = (uint8_t)rules[i].v, at[1] = at[2] = at[3] = 0;
		kv_file_reseal(d, len);
		x = tpath("rules.kv");
		spit(x, d, len);
		snprintf(want, sizeof want, "%s: corrupt at byte %llu: %s", x,
		    (unsigned long long)lay.off[rules[i].op], rules[i].why);
		ok(kv_file_open_read(x, &p, &f, &err) == -1, "refused: %s", rules[i].why);
		is_str(err, want, "... naming the offset");
		ok(kv_file_open_write(x, &p, "index", &f, &err) == -1 && strcmp(err, want) == 0,
		    "... by the writer too, which cuts nothing");
		size_t n2;
		uint8_t *after = slurp(x, &n2);
		ok(same_bytes(after, n2, d, len), "... the file is as it was");
		free(after);
		free(x);
	}
	/* A partial block followed by another, inside a commit. */
	memcpy(d, r, len);
	d[lay.off[7] + 4] = 3;    /* block 5: 3 tokens */
	kv_file_reseal(d, len);
	x = tpath("rules.kv");
	spit(x, d, len);
	snprintf(want, sizeof want, "%s: corrupt at byte %llu: block 6 follows block 5, which holds "
	    "only 3 tokens", x, (unsigned long long)lay.off[8]);
	ok(kv_file_open_read(x, &p, &f, &err) == -1 && strcmp(err, want) == 0,
	    "a block after a partial one is refused");
	free(x);

	/* The same kind of record after the last commit is a torn tail, not corruption. */
	uint8_t *e = xmalloc(len + 4160);
	memcpy(e, r, len);
	memcpy(e + len, r + lay.off[0], 4160);
	put_le64(e + len + 8, 99);
	kv_file_reseal(e, len + 4160);
	x = tpath("tail.kv");
	spit(x, e, len + 4160);
	is_int((long long)last_seq(x, &p, &err), 5, "a rule-breaking record after the last commit "
	    "is only cut off");
	snprintf(want, sizeof want, "%s: 4160 bytes after the last commit (an interrupted index; "
	    "the next index resumes)", x);
	ok(kv_file_check(x, collect, &rep, &problems, &err) == 0 && problems == 0 && rep.n == 1,
	    "kv_file_check: the tail is no problem");
	is_str(rep.n ? rep.msg[0] : NULL, want, "... but is reported");
	reports_free(&rep);
	ok(run_plan(x, &p, steps, 0, 0) == 0 && files_equal(ref, x), "a writer cuts it off");
	free(e);
	free(x);

	/* A format from the future, with and without a valid checksum; a foreign file. */
	for (int seal = 0; seal < 2; seal++) {
		memcpy(d, r, len);
		d[8] = 2;
		if (seal)
			kv_file_reseal(d, len);
		x = tpath("future.kv");
		spit(x, d, len);
		snprintf(want, sizeof want, "%s: KV format version 2 is newer than this quire (1)", x);
		ok(kv_file_open_read(x, NULL, &f, &err) == -1 && strcmp(err, want) == 0,
		    "version 2%s: refused as newer", seal ? " (sealed)" : "");
		ok(kv_file_open_write(x, &p, "index", &f, &err) == -1 && strcmp(err, want) == 0,
		    "... the writer refuses it too");
		free(x);
	}
	memcpy(d, r, len);
	d[0] = 'X';
	x = tpath("foreign.kv");
	spit(x, d, len);
	snprintf(want, sizeof want, "%s: not a quire KV cache file (bad magic)", x);
	ok(kv_file_open_read(x, NULL, &f, &err) == -1 && strcmp(err, want) == 0, "bad magic");
	free(x);

	/* Short files: empty, a header cut short, garbage. */
	x = tpath("short.kv");
	spit(x, d, 0);
	snprintf(want, sizeof want, "%s: truncated header (0 bytes of 4096)", x);
	ok(kv_file_open_read(x, NULL, &f, &err) == -1 && strcmp(err, want) == 0,
	    "an empty file: truncated header");
	ok(kv_file_check(x, collect, &rep, &problems, &err) == 0 && problems == 1,
	    "... a problem for kv_file_check");
	reports_free(&rep);
	spit(x, r, 100);
	ok(run_plan(x, &p, steps, 0, 0) == 0 && last_seq(x, &p, &err) == 0,
	    "a writer finishes a header cut short (an interrupted create)");
	memset(d, 0x55, 100);
	spit(x, d, 100);
	snprintf(want, sizeof want, "%s: truncated header (100 bytes of 4096)", x);
	ok(kv_file_open_write(x, &p, "index", &f, &err) == -1 && strcmp(err, want) == 0,
	    "... but refuses 100 bytes of something else");
	uint8_t *after = slurp(x, &len);
	ok(len == 100 && after[0] == 0x55, "... and leaves them alone");
	free(after);
	free(x);
	x = tpath("missing.kv");
	ok(kv_file_check(x, collect, &rep, &problems, &err) == -1 && strstr(err, x) == err,
	    "kv_file_check of a missing file cannot run");
	free(x);

	free(d);
	free(r);
	free(ref);
	free(err);
}

/* --- parameters, locks, misuse ------------------------------------------------------------ */

static void test_mismatch(void)
{
	char *ref = tpath("ref.kv"), *err = NULL, want[512];
	size_t len0, len1;
	uint8_t *before = slurp(ref, &len0);
	for (int k = 0; k < 9; k++) {
		const char *a, *b;
		struct kv_file_params q = changed(k, &a, &b);
		struct kv_file *f;
		snprintf(want, sizeof want, "%s: made with %s %s, this run asks for %s", ref,
		    field_names[k], a, b);
		ok(kv_file_open_read(ref, &q, &f, &err) == -1, "reader, other %s: refused",
		    field_names[k]);
		is_str(err, want, "... naming it");
		ok(kv_file_open_write(ref, &q, "index", &f, &err) == -1 && strcmp(err, want) == 0,
		    "writer, other %s: the same", field_names[k]);
	}
	uint8_t *after = slurp(ref, &len1);
	ok(same_bytes(before, len0, after, len1), "refusals leave the file alone");
	free(before);
	free(after);
	free(ref);
	free(err);
}

static void test_lock(void)
{
	struct kv_file_params p = small_params(0);
	char *path = tpath("lock.kv"), *lock = xasprintf("%s.lock", path), *err = NULL, want[512];
	struct kv_file *w1 = NULL, *w2 = NULL;
	ok(kv_file_open_write(path, &p, "index", &w1, &err) == 0, "a writer creates a file");
	snprintf(want, sizeof want, "%s: in use by index (pid %ld)", path, (long)getpid());
	ok(kv_file_open_write(path, &p, "ask", &w2, &err) == -1 && w2 == NULL,
	    "a second writer is refused");
	is_str(err, want, "... naming the holder");
	size_t n;
	char *line = (char *)slurp(lock, &n), lwant[64];
	snprintf(lwant, sizeof lwant, "index %ld\n", (long)getpid());
	is_str(line, lwant, "the lock file holds \"who pid\"");
	free(line);
	spit(lock, "nonsense", 8);
	snprintf(want, sizeof want, "%s: in use by another process", path);
	ok(kv_file_open_write(path, &p, "ask", &w2, &err) == -1 && strcmp(err, want) == 0,
	    "an unreadable holder line: \"in use by another process\"");
	struct kv_file *rd = NULL;
	ok(kv_file_open_read(path, &p, &rd, &err) == 0, "a reader needs no lock");
	kv_file_close(rd);
	kv_file_close(w1);
	ok(kv_file_open_write(path, &p, "ask", &w2, &err) == 0, "once closed, the next writer opens");
	kv_file_close(w2);
	free(path);
	free(lock);
	free(err);
}

static void test_misuse(void)
{
	struct kv_file_params p = small_params(0);
	char *path = tpath("misuse.kv"), *err = NULL, want[512];
	uint8_t *payload = xcalloc(1, kv_file_block_bytes(&p));
	struct kv_file *w = NULL, *f = NULL;
	struct kv_file_commit c;
	if (kv_file_open_write(path, &p, "index", &w, &err) != 0) {
		ok(0, "open: %s", err);
		free(err);
		return;
	}
	kv_file_last_commit(w, &c);
	ok(c.seq == 0 && c.n_blocks == 0 && c.n_tokens == 0, "a new file: no commit");
	snprintf(want, sizeof want, "%s: a record for block 1 where block 0 comes next", path);
	ok(kv_file_append_block(w, 1, 16, payload, &err) == -1 && strcmp(err, want) == 0,
	    "block 1 before block 0 is refused");
	ok(kv_file_append_block(w, 0, 0, payload, &err) == -1 &&
	    kv_file_append_block(w, 0, 17, payload, &err) == -1, "0 or 17 tokens are refused");
	ok(kv_file_append_block(w, 0, 5, payload, &err) == 0, "a partial block 0");
	snprintf(want, sizeof want, "%s: block 1 follows block 0, which holds only 5 tokens", path);
	ok(kv_file_append_block(w, 1, 16, payload, &err) == -1 && strcmp(err, want) == 0,
	    "a block after a partial one is refused");
	struct kv_file_commit nc = { 0, 6, 1, 0, 0 };
	snprintf(want, sizeof want, "%s: commit 1 says 6 tokens in 1 blocks, the blocks before it "
	    "hold 5 tokens in 1", path);
	ok(kv_file_commit(w, &nc, &err) == -1 && strcmp(err, want) == 0,
	    "a commit with the wrong counts is refused");
	nc.n_tokens = 5;
	ok(kv_file_commit(w, &nc, &err) == 0 && nc.seq == 1, "the right counts commit as seq 1");
	nc.seq = 77;
	ok(kv_file_commit(w, &nc, &err) == 0 && nc.seq == 2, "a commit without blocks: seq 2");
	kv_file_close(w);

	ok(kv_file_open_read(path, &p, &f, &err) == 0, "the reader opens it");
	if (f != NULL) {
		snprintf(want, sizeof want, "%s: opened for reading, not writing", path);
		ok(kv_file_append_block(f, 1, 16, payload, &err) == -1 && strcmp(err, want) == 0 &&
		    kv_file_commit(f, &nc, &err) == -1, "a reader cannot append or commit");
		kv_file_last_commit(f, &c);
		is_int((long long)c.seq, 2, "the last commit is seq 2");
		kv_file_close(f);
	}
	kv_file_close(NULL);
	struct kv_file_params bad = p;
	bad.block_tokens = 20;
	ok(kv_file_open_write(path, &bad, "index", &w, &err) == -1 &&
	    strstr(err, "block size 20 is not a multiple of 16") != NULL,
	    "a writer with invalid parameters is refused");
	free(payload);
	free(path);
	free(err);
}

/* --- the fuzz corpus ---------------------------------------------------------------------- */

/* One layer, one head of 32, blocks of 16: 2048-byte blocks, seeds of a few KiB. */
static struct kv_file_params corpus_params(uint32_t dtype)
{
	struct kv_file_params p = {
		.model_id = 0xc0ffee, .rope_id = 0xbeef, .dtype = dtype, .block_tokens = 16,
		.sinks = 0, .window = UINT32_MAX, .n_layer = 1 + dtype, .n_head_kv = 1,
		.head_dim = 32,
	};
	return p;
}

/* Write the seeds into dir; the count, or -1. */
static int make_corpus(const char *dir)
{
	static const struct op f16[] = {
		APPEND(0, 16), APPEND(1, 16), COMMIT, APPEND(2, 5), COMMIT, APPEND(2, 12), COMMIT,
	};
	static const struct op q8[] = { APPEND(0, 16), COMMIT, APPEND(1, 9), COMMIT };
	static const struct op torn[] = { APPEND(0, 16), COMMIT, APPEND(1, 16) };
	struct kv_file_params pf = corpus_params(0), pq = corpus_params(1);
	char *a = xasprintf("%s/empty.kv", dir), *b = xasprintf("%s/f16.kv", dir),
	    *c = xasprintf("%s/q8.kv", dir), *d = xasprintf("%s/interrupted.kv", dir),
	    *e = xasprintf("%s/cut-record.kv", dir), *g = xasprintf("%s/cut-header.kv", dir);
	int rc = run_plan(a, &pf, f16, 0, 0) | run_plan(b, &pf, f16, 0, Q_ARRAY_LEN(f16)) |
	    run_plan(c, &pq, q8, 0, Q_ARRAY_LEN(q8)) | run_plan(d, &pf, torn, 0, Q_ARRAY_LEN(torn));
	size_t len;
	uint8_t *data = slurp(b, &len);
	if (data != NULL && len > 4096 + 2112 + 1000) {
		spit(e, data, 4096 + 2112 + 1000);
		spit(g, data, 1000);
	} else {
		rc = -1;
	}
	free(data);
	const char *names[] = { a, b, c, d };
	for (int i = 0; i < 4; i++) {
		char *lock = xasprintf("%s.lock", names[i]);
		unlink(lock);
		free(lock);
	}
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(g);
	return rc == 0 ? 6 : -1;
}

static void test_corpus(void)
{
	const char *srcdir = getenv("srcdir") ? getenv("srcdir") : ".";
	char *dir = xasprintf("%s/tests/fuzz/kv-file-corpus", srcdir), *made = tpath("corpus");
	mkdir(made, 0700);
	is_int(make_corpus(made), 6, "the fuzz seeds are written");
	DIR *dp = opendir(made);
	struct dirent *de;
	int n = 0, differ = 0;
	while (dp != NULL && (de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *x = xasprintf("%s/%s", made, de->d_name), *y = xasprintf("%s/%s", dir,
		    de->d_name);
		n++;
		if (!files_equal(x, y)) {
			differ++;
			diag("%s differs from what this writer makes (tests/t-kv-file --write-corpus "
			    "DIR rewrites the seeds)", y);
		}
		free(x);
		free(y);
	}
	if (dp != NULL)
		closedir(dp);
	ok(n == 6 && differ == 0, "tests/fuzz/kv-file-corpus holds what this writer makes (%d of %d "
	    "differ): the format has not changed", differ, n);
	free(dir);
	free(made);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
		int n = make_corpus(argv[2]);
		printf("%d seeds written to %s\n", n, argv[2]);
		return n < 0;
	}
	/* Hundreds of fdatasyncs take seconds on a disk and nothing in memory. */
	const char *t = getenv("TMPDIR");
	if ((t == NULL || t[0] == '\0') && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	if (tap_tmpdir("t-kv-file", tmp, sizeof tmp) != 0)
		return skip_all("cannot make a temporary folder");
	test_checksum();
	test_params();
	test_round_trip(0);
	test_round_trip(1);
	test_resume();
	test_damage();
	test_mismatch();
	test_lock();
	test_misuse();
	test_corpus();
	tap_tmpdir_remove(tmp);
	done_testing();
	return exit_status();
}
