// cuda-ops.cu: the first CUDA backend operations: matrix products through cuBLAS and RMSNorm,
// the formula of which comes from kernels/norm-math.h like the CPU path's.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda-backend.h"
#include "kernels/norm-math.h"

static int ops_fail(char **err, const char *what, const char *why)
{
	if (err != NULL) {
		free(*err);
		size_t n = strlen(what) + strlen(why) + 16;
		*err = (char *)malloc(n);
		if (*err != NULL)
			snprintf(*err, n, "CUDA: %s: %s", what, why);
	}
	return -1;
}

#define CUDA_TRY(call, what)                                                    \
	do {                                                                    \
		cudaError_t e_ = (call);                                        \
		if (e_ != cudaSuccess) {                                        \
			ops_fail(err, what, cudaGetErrorString(e_));            \
			goto out;                                               \
		}                                                               \
	} while (0)

extern "C" int cuda_matmul_f32(const float *w, const float *x, float *y, int n_out, int n_in,
    int n_tok, char **err)
{
	int rc = -1;
	float *dw = NULL, *dx = NULL, *dy = NULL;
	cublasHandle_t h = NULL;
	const float one = 1.0f, zero = 0.0f;
	size_t sw = (size_t)n_out * n_in * sizeof(float);
	size_t sx = (size_t)n_tok * n_in * sizeof(float);
	size_t sy = (size_t)n_tok * n_out * sizeof(float);
	if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
		ops_fail(err, "cublasCreate", "failed");
		goto out;
	}
	CUDA_TRY(cudaMalloc((void **)&dw, sw), "cudaMalloc");
	CUDA_TRY(cudaMalloc((void **)&dx, sx), "cudaMalloc");
	CUDA_TRY(cudaMalloc((void **)&dy, sy), "cudaMalloc");
	CUDA_TRY(cudaMemcpy(dw, w, sw, cudaMemcpyHostToDevice), "cudaMemcpy");
	CUDA_TRY(cudaMemcpy(dx, x, sx, cudaMemcpyHostToDevice), "cudaMemcpy");
	// Row-major Y[t][o] = sum_i X[t][i] W[o][i] is column-major Y^T = W^T-as-stored . X^T:
	// cuBLAS sees W as an n_in x n_out column-major matrix, so op(W) = transpose.
	if (cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n_tok, n_in, &one, dw, n_in, dx, n_in,
	    &zero, dy, n_out) != CUBLAS_STATUS_SUCCESS) {
		ops_fail(err, "cublasSgemm", "failed");
		goto out;
	}
	CUDA_TRY(cudaMemcpy(y, dy, sy, cudaMemcpyDeviceToHost), "cudaMemcpy");
	rc = 0;
out:
	cudaFree(dw);
	cudaFree(dx);
	cudaFree(dy);
	if (h)
		cublasDestroy(h);
	return rc;
}

// One block per row: each thread sums a strided slice, a shared-memory tree adds them up.
__global__ static void rmsnorm_kernel(const float *x, const float *w, float *out, int n,
    float eps)
{
	extern __shared__ float partial[];
	const float *row = x + (size_t)blockIdx.x * n;
	float *dst = out + (size_t)blockIdx.x * n;
	float ss = 0.0f;
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		ss += row[i] * row[i];
	partial[threadIdx.x] = ss;
	__syncthreads();
	for (int s = blockDim.x / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s)
			partial[threadIdx.x] += partial[threadIdx.x + s];
		__syncthreads();
	}
	float k = rmsnorm_inv_rms(partial[0], n, eps);
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		dst[i] = row[i] * k * w[i];
}

extern "C" int cuda_rmsnorm_f32(const float *x, const float *weight, float *out, int n_rows,
    int n, float eps, char **err)
{
	int rc = -1;
	float *dx = NULL, *dwt = NULL, *dout = NULL;
	size_t sx = (size_t)n_rows * n * sizeof(float);
	const int threads = 256;
	CUDA_TRY(cudaMalloc((void **)&dx, sx), "cudaMalloc");
	CUDA_TRY(cudaMalloc((void **)&dout, sx), "cudaMalloc");
	CUDA_TRY(cudaMalloc((void **)&dwt, (size_t)n * sizeof(float)), "cudaMalloc");
	CUDA_TRY(cudaMemcpy(dx, x, sx, cudaMemcpyHostToDevice), "cudaMemcpy");
	CUDA_TRY(cudaMemcpy(dwt, weight, (size_t)n * sizeof(float), cudaMemcpyHostToDevice),
	    "cudaMemcpy");
	rmsnorm_kernel<<<n_rows, threads, threads * sizeof(float)>>>(dx, dwt, dout, n, eps);
	CUDA_TRY(cudaGetLastError(), "rmsnorm kernel launch");
	CUDA_TRY(cudaMemcpy(out, dout, sx, cudaMemcpyDeviceToHost), "cudaMemcpy");
	rc = 0;
out:
	cudaFree(dx);
	cudaFree(dwt);
	cudaFree(dout);
	return rc;
}
