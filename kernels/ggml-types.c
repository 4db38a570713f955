/* ggml-types.c: the table of tensor element types and their block geometry. */
#include "kernels/ggml-types.h"

static const struct ggml_type_traits traits[GGML_TYPE_COUNT_] = {
	[GGML_TYPE_F32]  = { "f32",  1, 4, 1 },
	[GGML_TYPE_F16]  = { "f16",  1, 2, 1 },
	[GGML_TYPE_Q4_0] = { "q4_0", 32, 18, 1 },
	[GGML_TYPE_Q4_1] = { "q4_1", 32, 20, 1 },
	[GGML_TYPE_Q5_0] = { "q5_0", 32, 22, 1 },
	[GGML_TYPE_Q5_1] = { "q5_1", 32, 24, 1 },
	[GGML_TYPE_Q8_0] = { "q8_0", 32, 34, 1 },
	[GGML_TYPE_Q8_1] = { "q8_1", 32, 36, 0 },
	[GGML_TYPE_Q2_K] = { "q2_K", 256, 84, 0 },
	[GGML_TYPE_Q3_K] = { "q3_K", 256, 110, 0 },
	[GGML_TYPE_Q4_K] = { "q4_K", 256, 144, 1 },
	[GGML_TYPE_Q5_K] = { "q5_K", 256, 176, 1 },
	[GGML_TYPE_Q6_K] = { "q6_K", 256, 210, 1 },
	[GGML_TYPE_Q8_K] = { "q8_K", 256, 292, 0 },
	[GGML_TYPE_I8]   = { "i8",   1, 1, 0 },
	[GGML_TYPE_I16]  = { "i16",  1, 2, 0 },
	[GGML_TYPE_I32]  = { "i32",  1, 4, 0 },
	[GGML_TYPE_I64]  = { "i64",  1, 8, 0 },
	[GGML_TYPE_F64]  = { "f64",  1, 8, 0 },
	[GGML_TYPE_BF16] = { "bf16", 1, 2, 1 },
};

const struct ggml_type_traits *ggml_type_traits_of(uint32_t type_id)
{
	if (type_id >= GGML_TYPE_COUNT_ || traits[type_id].name == 0)
		return 0;
	return &traits[type_id];
}
