/* norm-math.h: RMSNorm arithmetic shared by the CPU forward pass and the CUDA kernel
 * (kernels/hostdev.h), so the CPU tests pin the formula both use. */
#ifndef QUIRE_KERNELS_NORM_MATH_H
#define QUIRE_KERNELS_NORM_MATH_H

#include <math.h>

#include "kernels/hostdev.h"

/* The factor RMSNorm multiplies each element by, from the sum of squares of n elements. The
 * sum is kept in double and the mean rounded to float before eps is added, as ggml does, so
 * both engines scale by the same float. */
QUIRE_HD static inline float rmsnorm_inv_rms(double sum_sq, int n, float eps)
{
	float mean = (float)(sum_sq / (double)n);
	return 1.0f / sqrtf(mean + eps);
}

/* Reference row norm (CPU; the CUDA kernel reduces in parallel and calls rmsnorm_inv_rms). */
QUIRE_HD static inline void rmsnorm_row(const float *x, const float *w, float *out, int n,
    float eps)
{
	double ss = 0.0;
	for (int i = 0; i < n; i++)
		ss += (double)(x[i] * x[i]);
	float k = rmsnorm_inv_rms(ss, n, eps);
	for (int i = 0; i < n; i++)
		out[i] = (x[i] * k) * w[i];
}

#endif
