/* kv-file.h: the persistent KV cache, one append-only, checksummed file per set of parameters
 * that change cached values (model, RoPE, KV type, block size, index policy, shape).
 *
 * A file is a header and then records: blocks of block_tokens tokens' K and V rows for every
 * layer, and commit records. A commit vouches for everything before it; a reader trusts nothing
 * after the last valid commit, and a writer that reopens the file cuts it there and goes on, so
 * a crash loses only the work since the last commit. Opening reads the record headers only;
 * a block's payload checksum is checked the first time the block is read. The byte layout is
 * described at the top of engine/kv-file.c and in engine/README.
 *
 * One writer at a time (an flock on "<path>.lock"); any number of readers, which map the file
 * and see the commits made before they opened it. Errors are "PATH: what went wrong". */
#ifndef QUIRE_ENGINE_KV_FILE_H
#define QUIRE_ENGINE_KV_FILE_H

#include <stddef.h>
#include <stdint.h>

#define KV_FILE_VERSION 1            /* the format version this code writes and reads */
#define KV_FILE_HEADER_SIZE 4096     /* bytes of the file header; records follow */
#define KV_FILE_DEFAULT_BLOCK 128    /* tokens per block unless the caller says otherwise */

/* The parameters that change cached values; a file is named by their fingerprint and its
 * header repeats them. Valid values: dtype 0 or 1; block_tokens 16..4096 and a multiple of
 * 16; n_layer, n_head_kv and head_dim 1..1024, head_dim a multiple of 32 for q8_0. */
struct kv_file_params {
	uint64_t model_id;        /* fingerprint of the model's weights and hyper-parameters
	                           * (caller computes) */
	uint64_t rope_id;         /* rope_fingerprint() of the effective RoPE configuration */
	uint32_t dtype;           /* enum kv_type from engine/backend.h: 0 = KV_F16, 1 = KV_Q8_0 */
	uint32_t block_tokens;    /* tokens per block (default 128), 16..4096, multiple of 16 */
	uint32_t sinks;           /* index policy: attention sinks */
	uint32_t window;          /* index policy: local window (UINT32_MAX = unbounded = exact) */
	uint32_t n_layer;         /* layers */
	uint32_t n_head_kv;       /* K/V heads per layer */
	uint32_t head_dim;        /* values per head */
};

/* checksum64 over the canonical little-endian bytes of every field, in declaration order. */
uint64_t kv_file_fingerprint(const struct kv_file_params *p);
/* "<16 lower-case hex digits of the fingerprint>.kv", malloc'd. */
char *kv_file_name(const struct kv_file_params *p);
/* Bytes of one token's K (or V) row of one layer, kv_dim = n_head_kv * head_dim values:
 * f16 kv_dim * 2; q8_0 kv_dim / 32 * 34 (ggml's block_q8_0: an fp16 scale, then 32 int8).
 * 0 if dtype is unknown, kv_dim is 0 or (q8_0) not a multiple of 32. */
size_t kv_file_row_bytes(uint32_t dtype, uint32_t kv_dim);
/* Bytes of one block's payload, n_layer * 2 * block_tokens * row_bytes; 0 if p is invalid. */
size_t kv_file_block_bytes(const struct kv_file_params *p);
/* 0 if p holds valid values; -1 with "what: why" in *err naming the first bad field. */
int kv_file_params_check(const struct kv_file_params *p, const char *what, char **err);

/* What a commit record says: everything before it is trusted. */
struct kv_file_commit {
	uint64_t seq;             /* 1, 2, ... (filled by kv_file_commit) */
	uint64_t n_tokens;        /* corpus tokens cached */
	uint64_t n_blocks;        /* blocks, the last possibly partial (n_tokens rounded up) */
	uint64_t n_docs;          /* documents whose tokens are all cached (caller's meaning) */
	uint64_t layout_hash;     /* caller's hash of the corpus layout these tokens come from */
};

struct kv_file;   /* opaque */

/* Writer: create path (with its header, durably) or open an existing file. Takes an exclusive
 * flock on "<path>.lock" without waiting; when another process holds it, fails with "PATH: in
 * use by WHO (pid N)" from the line "who pid\n" the holder wrote into the lock file. Validates
 * the header against p: on a mismatch the message names the parameter ("PATH: made with block
 * size 128, this run asks for 256"). Scans the records and truncates the file after the last
 * valid commit. A file shorter than its header that holds only a prefix of the header this
 * call would write (a creation cut short) is written afresh. who: e.g. "index". */
int kv_file_open_write(const char *path, const struct kv_file_params *p, const char *who,
    struct kv_file **out, char **err);
/* Reader: map path read-only, validate the header (against expect, or accept the file's own
 * parameters when expect is NULL), scan, trust nothing past the last valid commit. Takes no
 * lock. A file without a commit is valid and empty. */
int kv_file_open_read(const char *path, const struct kv_file_params *expect,
    struct kv_file **out, char **err);
/* Unmap or close; a writer releases its lock. Uncommitted blocks stay in the file, where the
 * next writer cuts them off. NULL is allowed. */
void kv_file_close(struct kv_file *f);
const struct kv_file_params *kv_file_get_params(const struct kv_file *f);
/* The last valid commit (all zeros when none). */
void kv_file_last_commit(const struct kv_file *f, struct kv_file_commit *out);
/* Tokens held by committed block i (block_tokens, or fewer for a partial last block); 0 if i
 * is out of range. */
uint32_t kv_file_block_tokens(const struct kv_file *f, uint64_t i);
/* Committed block i's layer K (kind 0) or V (kind 1) rows: block_tokens * row_bytes bytes (a
 * partial block's rows past its tokens are zero). Reader: a pointer into the mapping; writer:
 * a buffer the file owns, valid until the next call. The block's payload checksum is checked
 * the first time the block is touched and the verdict kept; a bad block gives -1 with "PATH:
 * block I is damaged (checksum)". */
int kv_file_block_rows(struct kv_file *f, uint64_t i, uint32_t layer, int kind,
    const void **rows, char **err);
/* Writer: append block i, payload = kv_file_block_bytes() bytes laid out per layer as K rows
 * then V rows, block_tokens * row_bytes each, holding n_tok (1..block_tokens) tokens; rows past
 * n_tok are written as zeros whatever the payload holds there. i is the number of blocks so far
 * (committed and appended since) or, when the last of them is partial, that block's index: the
 * new record supersedes it. A block after a partial one is refused. Nothing is trusted until
 * kv_file_commit. */
int kv_file_append_block(struct kv_file *f, uint64_t i, uint32_t n_tok, const void *payload,
    char **err);
/* Writer: fdatasync the blocks, append a commit record (seq = previous + 1, written back into
 * c; c->n_blocks and c->n_tokens must match the blocks appended), fdatasync. The record's
 * chain checksum covers every block record since the previous commit and that commit's chain,
 * so the commits of a file form one chain from the first block. */
int kv_file_commit(struct kv_file *f, struct kv_file_commit *c, char **err);
/* Full verification for `quire check`: the header, every record up to the last commit, every
 * committed block's checksum, the commit chain. report(ctx, msg) once per problem ("PATH: ..."
 * naming the block index for a bad block); *problems = their count. Bytes after the last
 * commit are reported too ("PATH: N bytes after the last commit (an interrupted index; the
 * next index resumes)") without counting as a problem, unless a valid commit lies beyond them
 * (a damaged record hides it: a problem). Returns -1 only if the check cannot run (the file
 * cannot be opened or mapped). */
int kv_file_check(const char *path, void (*report)(void *ctx, const char *msg), void *ctx,
    uint64_t *problems, char **err);

/* For tests and fuzzing, which need files whose checksums are right and whose content is
 * wrong: recompute, in place, the header checksum and, following the records' own framing
 * from the header on, every record's checksums and the commit chain, as a writer would have
 * written them. Stops at the first record without a record magic or that runs past len. */
void kv_file_reseal(void *data, size_t len);

#endif
