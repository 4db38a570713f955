/* kv-summary.h: per-block key summaries for retrieval attention (Quest-style scoring), and the
 * side file that keeps them beside the KV cache file.
 *
 * A block's summary bounds its keys channel by channel: for every layer and KV head, the
 * minimum and the maximum of each of the head_dim channels over the block's tokens. The KV
 * file holds keys rotated at their absolute corpus positions (R(p) m k0, kv-file.h); each key
 * is turned back by -p with rope_shift_rows() before it is counted, the same rotation that
 * moves a block's keys into place for an answer (kv-retrieve.c), so the bounds are free of
 * positions: a query q rotated to any relative distance bounds its product with every key of
 * the block by sum_c max(q_c min_c, q_c max_c). The keys keep the magnitude m of their first
 * rotation, so the bounds are those of m k0.
 *
 * The side file "<kv path minus .kv>.sum" holds one summary per block in a fixed-size slot,
 * each checksummed. It is derived data: every slot can be recomputed from the KV file, so a
 * missing or damaged one costs time, never an answer, and a writer that finds the file damaged
 * or made for other parameters starts it afresh instead of failing. The byte layout is at the
 * top of engine/kv-summary.c and in engine/README.
 *
 * The writer is the KV file's writer (it holds that file's lock, so this file takes none); it
 * syncs the summaries before each KV commit, so a committed block's slot is on disk before the
 * commit that vouches for the block. Readers map the file; open it after the KV file, whose
 * commits then describe no block whose slot lies past the mapping. Every number in the file is
 * little-endian, and a summary is read in place as uint16_t: quire runs on little-endian hosts,
 * as it reads the KV file's rows in place too. Errors are "PATH: what went wrong". */
#ifndef QUIRE_ENGINE_KV_SUMMARY_H
#define QUIRE_ENGINE_KV_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kv-file.h"

struct rope_table;

#define KV_SUMMARY_VERSION 1         /* the format version this code writes and reads */
#define KV_SUMMARY_HEADER_SIZE 4096  /* bytes of the file header; slots follow */

/* Bytes of one block's summary: per layer, per KV head, head_dim minima then head_dim maxima,
 * fp16 each: n_layer * n_head_kv * 2 * head_dim * 2. 0 if p is invalid. */
size_t kv_summary_bytes(const struct kv_file_params *p);

/* Summarize a block whose first token sits at corpus position pos0 and which holds n_tok
 * tokens into out (kv_summary_bytes(p) bytes). k_rows[l] is layer l's block_tokens K rows in
 * the KV file's format (kv_file_block_rows(): fp16 rows of n_head_kv * head_dim, or q8_0 blocks
 * for dtype 1); rows past n_tok are ignored. rt[l] is the RoPE table of layer l (n_rot at most
 * head_dim). Each key is un-rotated by -(pos0 + r) with rope_shift_rows(); the minimum is
 * rounded down and the maximum up to fp16, so the bounds hold after rounding (a value beyond
 * fp16's range gives an infinite bound). NaN values are left out; n_tok 0 gives the empty
 * bounds +inf and -inf. */
void kv_summary_compute(const struct kv_file_params *p, const void *const *k_rows,
    uint32_t n_tok, uint64_t pos0, const struct rope_table *const *rt, void *out);

/* Layer l, KV head g of a summary: head_dim fp16 minima, and head_dim fp16 maxima. */
const uint16_t *kv_summary_min(const struct kv_file_params *p, const void *sum, uint32_t l,
    uint32_t g);
const uint16_t *kv_summary_max(const struct kv_file_params *p, const void *sum, uint32_t l,
    uint32_t g);

struct kv_summary_file;   /* opaque */

/* Open the side file path (kv_summary_path() of the KV file) for the KV file of parameters p.
 * write 1 (the KV file's writer): create the file when it is missing, or check its header; a
 * header that is damaged or made for other parameters gets the file started afresh (an empty
 * file with a new header replaces it, written durably), so only a failing disk fails this.
 * write 0: map the file read-only; a missing file, or a header that is damaged or made for
 * other parameters, gives -1 naming the file and the problem. */
int kv_summary_open(const char *path, const struct kv_file_params *p, int write,
    struct kv_summary_file **out, char **err);
/* Unmap or close. NULL is allowed. */
void kv_summary_close(struct kv_summary_file *sf);

/* Writer: write block i's slot, a summary of n_tok (1..block_tokens) tokens, in place. A slot
 * written again (a partial last block that has grown) is replaced. Not durable until
 * kv_summary_sync(). */
int kv_summary_put(struct kv_summary_file *sf, uint64_t i, uint32_t n_tok, const void *sum,
    char **err);
/* Writer: fdatasync the slots written, before the KV file commits the blocks they describe.
 * After a failure the handle refuses further writes. */
int kv_summary_sync(struct kv_summary_file *sf, char **err);

/* Block i's summary, if its slot holds block i with n_tok tokens and both its checksums hold;
 * else -1 with "PATH: summary of block I is missing" (never written, cut off, or made when the
 * block held another number of tokens) or "PATH: summary of block I is damaged (...)".
 * A reader checks a whole block's slot the first time it is asked for and keeps the verdict,
 * and gives a pointer into the mapping, valid until kv_summary_close(). A partial block's slot
 * (n_tok < block_tokens), which a writer may be rewriting, is copied and checked at every call;
 * the pointer is then valid until the next call for a partial block. A writer reads the slot
 * into a buffer, valid until its next call. */
int kv_summary_get(struct kv_summary_file *sf, uint64_t i, uint32_t n_tok, const void **sum,
    char **err);

/* Verification for `quire check`: the header, and the slot of every block 0..n_blocks-1 (the
 * KV file's committed blocks; tokens(ctx, i) says how many tokens block i holds), checksums
 * and all. report(ctx, msg) once per problem, naming the block ("PATH: summary of block 7 is
 * damaged (checksum)"); a run of blocks without a slot is one message ("PATH: summaries of
 * blocks 7 to 99 are missing"); *problems counts the blocks whose summary is missing or
 * damaged, or 1 for a missing file or a bad header. Returns -1 only if the check cannot run
 * (the file exists but cannot be opened or mapped). */
int kv_summary_check(const char *path, const struct kv_file_params *p, uint64_t n_blocks,
    uint32_t (*tokens)(void *ctx, uint64_t i), void (*report)(void *ctx, const char *msg),
    void *ctx, uint64_t *problems, char **err);

/* The side file of a KV file: "<kv_path without .kv>.sum" ("<kv_path>.sum" when it does not
 * end in .kv), malloc'd. */
char *kv_summary_path(const char *kv_path);

#endif
