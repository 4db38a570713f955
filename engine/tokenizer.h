/* tokenizer.h: text <-> token ids for a model, built from the vocabulary inside its GGUF file,
 * matching llama.cpp's tokenizer id for id.
 *
 * Two vocabulary kinds are supported, chosen by tokenizer.ggml.model:
 *   "gpt2"   byte-level BPE: the text is split by the pre-tokenizer regexes that
 *            tokenizer.ggml.pre names (PCRE2 with Unicode properties), each piece's bytes are
 *            merged by rank (tokenizer.ggml.merges). Known pre names: default, gpt-2 and its
 *            kin, llama-bpe/llama3, qwen2, smollm/starcoder and kin, falcon, chatglm-bpe...;
 *            a pre name llama.cpp splits differently and this file does not know is refused,
 *            a missing or unknown one falls back to "default" as llama.cpp does.
 *   "llama"  SentencePiece-style BPE: spaces become U+2581, an optional space prefix, merges
 *            by token score, byte fallback through the <0xXX> tokens. A U+2581 written in the
 *            text is then the same as a space, so it decodes as one (as in llama.cpp).
 *
 * Special tokens. Text is split around special-token strings before anything else, longest
 * token first. CONTROL and UNKNOWN tokens are matched only when TOK_PARSE_SPECIAL is given, so
 * a document that contains "<|im_end|>" stays plain text; USER_DEFINED tokens are matched
 * always, as llama.cpp and HF tokenizers do (they are ordinary words of the vocabulary; gemma's
 * whitespace runs "\n\n", "   ", "\t\t" are such tokens).
 *
 * Invalid UTF-8 (byte-level BPE). As llama.cpp does, the input is decoded leniently (overlong
 * forms and surrogates are taken as the code point they spell) and every byte that does not
 * start a decodable sequence becomes U+FFFD; the pieces are then re-encoded, so such input is
 * tokenized as if each bad byte were "\xEF\xBF\xBD" and decode(encode(x)) != x for it. Byte
 * offsets still point into the caller's input. Sequences that decode above U+10FFFF (lead
 * bytes F4..F7), where llama.cpp aborts, are treated as one U+FFFD per byte. For "llama"
 * vocabularies bytes go through <0xXX> fallback; as in llama.cpp a lead byte claims the length
 * it announces, so a space swallowed by a cut-off sequence comes back as U+2581.
 *
 * Threads: tokenizer_encode() uses per-tokenizer scratch space and a word cache, so calls on
 * one tokenizer must not run concurrently; everything else is read-only and safe. */
#ifndef QUIRE_ENGINE_TOKENIZER_H
#define QUIRE_ENGINE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct gguf_file;
struct tokenizer;   /* opaque */

/* Token types as GGUF numbers them (tokenizer.ggml.token_type). */
enum tok_type {
	TOK_TYPE_UNDEFINED = 0,
	TOK_TYPE_NORMAL = 1,
	TOK_TYPE_UNKNOWN = 2,
	TOK_TYPE_CONTROL = 3,
	TOK_TYPE_USER_DEFINED = 4,
	TOK_TYPE_UNUSED = 5,
	TOK_TYPE_BYTE = 6
};

/* Flags for tokenizer_encode(). */
#define TOK_ADD_BOS       0x01u  /* start with the BOS token (when the vocabulary has one) */
#define TOK_ADD_EOS       0x02u  /* end with the EOS token (when the vocabulary has one) */
#define TOK_ADD_SPECIAL   0x04u  /* add BOS/EOS as tokenizer.ggml.add_bos/eos_token say */
#define TOK_PARSE_SPECIAL 0x08u  /* match CONTROL token strings in the text (chat prompts only) */

/* Flags for tokenizer_decode(). */
#define TOK_DECODE_SKIP_SPECIAL 0x01u  /* leave out CONTROL and UNKNOWN tokens */
#define TOK_DECODE_KEEP_PREFIX  0x02u  /* keep the space a "llama" vocabulary put in front */

/* Build a tokenizer from the tokenizer.ggml.* keys of an open GGUF file; f may be closed
 * afterwards (everything needed is copied). 0, or -1 with *err naming the file and problem. */
int tokenizer_from_gguf(const struct gguf_file *f, struct tokenizer **out, char **err);
void tokenizer_free(struct tokenizer *tok);   /* NULL is fine */

/* Tokenize text[0, len). On success *ids (malloc'd, free() it; never NULL) holds *n tokens and,
 * when byte_offsets is not NULL, (*byte_offsets)[i] (malloc'd) is the offset in text where
 * token i's bytes start (non-decreasing; BOS gets 0, EOS gets len). Returns 0, or -1 with *err
 * set (a regex engine failure; nothing is allocated then). */
int tokenizer_encode(struct tokenizer *tok, const char *text, size_t len, unsigned flags,
    int32_t **ids, size_t *n, size_t **byte_offsets, char **err);

/* Append the bytes of one token to out: the bytes it stands for (byte-level BPE alphabet and
 * <0xXX> undone, U+2581 back to space); CONTROL/USER_DEFINED/UNKNOWN tokens as their text.
 * 0, or -1 for an id outside the vocabulary (nothing appended). */
int tokenizer_decode_token(const struct tokenizer *tok, int32_t id, struct buf *out);

/* Append the text of a token sequence to out; with a "llama" vocabulary that adds a space
 * prefix, the one space encode put at the start (and after each special token) is removed,
 * so decode(encode(x)) == x for valid UTF-8 (with a "llama" vocabulary: without U+2581 in it).
 * 0, or -1 with *err for an id out of range. */
int tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
    struct buf *out, char **err);

/* A stable 64-bit hash of what decides the ids: model kind, pre name, add_space_prefix, every
 * token's text, type and score, and the merges. Equal fingerprints mean equal tokenizations. */
uint64_t tokenizer_fingerprint(const struct tokenizer *tok);

/* --- facts about the vocabulary ----------------------------------------------------------- */
int32_t tokenizer_n_vocab(const struct tokenizer *tok);
int32_t tokenizer_bos(const struct tokenizer *tok);   /* -1 when none */
int32_t tokenizer_eos(const struct tokenizer *tok);   /* -1 when none */
int32_t tokenizer_eot(const struct tokenizer *tok);   /* end of turn (<|im_end|>...), -1 */
int32_t tokenizer_unk(const struct tokenizer *tok);   /* -1 when none */
int32_t tokenizer_pad(const struct tokenizer *tok);   /* -1 when none */
int tokenizer_add_bos(const struct tokenizer *tok);   /* the model wants BOS prepended */
const char *tokenizer_model_name(const struct tokenizer *tok);   /* "gpt2" or "llama" */
const char *tokenizer_pre_name(const struct tokenizer *tok);     /* as in the file, or "" */

enum tok_type tokenizer_token_type(const struct tokenizer *tok, int32_t id);
int tokenizer_is_control(const struct tokenizer *tok, int32_t id);   /* CONTROL or UNKNOWN */
/* End of generation: EOS, EOT and the usual end-of-text control tokens. */
int tokenizer_is_eog(const struct tokenizer *tok, int32_t id);
/* The id whose vocabulary text is exactly text[0, len), or -1. */
int32_t tokenizer_find(const struct tokenizer *tok, const char *text, size_t len);

#endif
