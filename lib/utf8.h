/* utf8.h: the one place quire takes UTF-8 apart: strict decoding, validation, repair and the
 * incomplete tail of a stream, plus llama.cpp's lenient decoding, kept apart and named as such,
 * for the tokenizers that must reproduce it.
 *
 * Strict means Unicode's well-formed UTF-8 (The Unicode Standard, 3.9, Table 3-7): no overlong
 * forms, no surrogates (U+D800-DFFF), nothing past U+10FFFF, no lead bytes C0, C1 or F5-FF, no
 * stray continuation bytes, no sequence cut short. Where bad bytes are replaced, one U+FFFD
 * stands for each "maximal subpart of an ill-formed subsequence" (Unicode 3.9, "U+FFFD
 * Substitution of Maximal Subparts"), which is also what the WHATWG Encoding Standard's decoder
 * and Python's errors="replace" do: "E2 82 41" gives U+FFFD "A", "ED A0 80" three U+FFFD. */
#ifndef QUIRE_LIB_UTF8_H
#define QUIRE_LIB_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define UTF8_MAX 4                  /* bytes in the longest sequence */

/* The character at s[0, n): its length (1-4) with *cp set, or 0 when the bytes there are not
 * one well-formed sequence (including n == 0); *cp is then left alone. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Where utf8_decode gives 0 and n > 0: how many bytes one U+FFFD replaces (1-3), the maximal
 * subpart (a lead byte and the continuation bytes that could still have completed it), never
 * less than 1. Returns 0 where a well-formed sequence starts, or when n == 0. */
size_t utf8_bad_len(const char *s, size_t n);

/* Write cp as UTF-8 to out (room for UTF8_MAX bytes): returns its length, or 0 past U+10FFFF.
 * A surrogate comes out in its 3-byte form, which is not well-formed: the byte-level tokenizer
 * re-encodes the surrogates utf8_decode_lenient lets through, as llama.cpp's
 * unicode_cpt_to_utf8 does; everything else only ever encodes scalar values. */
size_t utf8_encode(uint32_t cp, char *out);

/* 1 when s[0, n) is well-formed UTF-8; otherwise 0, and *bad_at (when not NULL) is the offset
 * of the first byte of the first ill-formed sequence. */
int utf8_valid(const char *s, size_t n, size_t *bad_at);

/* Append s[0, n) to out with each maximal subpart of ill-formed bytes replaced by U+FFFD (EF BF
 * BD), so the result is well-formed; out->data is not NULL afterwards, even for n == 0. */
void utf8_repair(const char *s, size_t n, struct buf *out);

/* How many bytes at the end of s[0, n) (0-3) begin a well-formed sequence that has not ended:
 * what a stream writer holds back until the rest arrives. Bytes that can never complete a
 * sequence (C0, "E0 80", "ED A0") are not held back. */
size_t utf8_incomplete_tail(const char *s, size_t n);

/* Where to cut s before byte n without splitting a character: n stepped back over continuation
 * bytes, but not below lo. s[n] must be readable (n below the text's length). */
size_t utf8_cut_back(const char *s, size_t n, size_t lo);

/* llama.cpp's decoder (unicode_cpt_from_utf8 in its src/unicode.cpp), which the byte-level BPE
 * tokenizer must copy bit for bit: the lead byte's high bits alone give the length (C0-DF two
 * bytes, E0-EF three, F0-F7 four), the continuation bytes must follow, and the value is taken
 * as spelled, overlong forms and surrogates included. Returns the length with *cp set, or 0
 * where llama.cpp gives U+FFFD for the one byte (unicode_cpts_from_utf8): a continuation or
 * F8-FF lead byte, a sequence cut short; and also, as quire's tokenizer has always done, a value
 * past U+10FFFF, which could not be encoded again. Never use it where text has to be
 * well-formed. */
size_t utf8_decode_lenient(const char *s, size_t n, uint32_t *cp);

#endif
