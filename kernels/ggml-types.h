/* ggml-types.h: the tensor element types that GGUF files name by number (ggml's type ids), with
 * the block geometry the loader needs to size a tensor. Shared by the GGUF loader and the
 * quantization kernels; usable from C and CUDA. */
#ifndef QUIRE_KERNELS_GGML_TYPES_H
#define QUIRE_KERNELS_GGML_TYPES_H

#include <stddef.h>
#include <stdint.h>

enum ggml_type {
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q4_0 = 2,
	GGML_TYPE_Q4_1 = 3,
	GGML_TYPE_Q5_0 = 6,
	GGML_TYPE_Q5_1 = 7,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_Q8_1 = 9,
	GGML_TYPE_Q2_K = 10,
	GGML_TYPE_Q3_K = 11,
	GGML_TYPE_Q4_K = 12,
	GGML_TYPE_Q5_K = 13,
	GGML_TYPE_Q6_K = 14,
	GGML_TYPE_Q8_K = 15,
	GGML_TYPE_I8 = 24,
	GGML_TYPE_I16 = 25,
	GGML_TYPE_I32 = 26,
	GGML_TYPE_I64 = 27,
	GGML_TYPE_F64 = 28,
	GGML_TYPE_BF16 = 30,
	GGML_TYPE_COUNT_ = 40   /* ids at or above this are unknown */
};

struct ggml_type_traits {
	const char *name;       /* as ggml prints it: "q4_1"; NULL for an unknown id */
	uint32_t block_elems;   /* elements per block (1 for plain types) */
	uint32_t block_bytes;   /* bytes per block */
	int computable;         /* 1 if quire's kernels can compute with it */
};

/* ggml-types.c: traits for an id, or NULL if the id is unknown to quire. */
const struct ggml_type_traits *ggml_type_traits_of(uint32_t type_id);

#endif
