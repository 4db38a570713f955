/* norm-math.h: RMSNorm arithmetic shared by the CPU forward pass and the CUDA kernel, so the
 * CPU tests pin the formula both use. */
#ifndef QUIRE_KERNELS_NORM_MATH_H
#define QUIRE_KERNELS_NORM_MATH_H

#include <math.h>

#ifdef __CUDACC__
#define QUIRE_NORM_HD __host__ __device__
#else
#define QUIRE_NORM_HD
#endif

/* The factor RMSNorm multiplies each element by, from the sum of squares of n elements. */
static inline QUIRE_NORM_HD float rmsnorm_inv_rms(float sum_sq, int n, float eps)
{
	return 1.0f / sqrtf(sum_sq / (float)n + eps);
}

/* Reference row norm (CPU; the CUDA kernel reduces in parallel and calls rmsnorm_inv_rms). */
static inline QUIRE_NORM_HD void rmsnorm_row(const float *x, const float *w, float *out, int n,
    float eps)
{
	float ss = 0.0f;
	for (int i = 0; i < n; i++)
		ss += x[i] * x[i];
	float k = rmsnorm_inv_rms(ss, n, eps);
	for (int i = 0; i < n; i++)
		out[i] = x[i] * k * w[i];
}

#endif
