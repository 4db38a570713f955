/* cuda-backend.h: the C interface to quire's CUDA kernels (kernels/cuda-*.cu). Declared for
 * every build; the functions exist only when configure built the CUDA backend (HAVE_CUDA). */
#ifndef QUIRE_KERNELS_CUDA_BACKEND_H
#define QUIRE_KERNELS_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cuda_device_info {
	int index;                  /* CUDA device ordinal */
	char name[256];             /* e.g. "NVIDIA H100 80GB HBM3" */
	int cc_major, cc_minor;     /* compute capability */
	size_t total_mem;           /* bytes */
	size_t free_mem;            /* bytes free when probed */
	int multiprocessors;        /* SM count */
};

/* cuda-device.cu: number of usable devices (0 when there is no GPU or driver: not an error),
 * or -1 with *err on a CUDA failure other than "no device". */
int cuda_device_count(char **err);
int cuda_device_probe(int index, struct cuda_device_info *info, char **err);
/* Runtime and driver versions as CUDA encodes them (1000*major + 10*minor). */
int cuda_versions(int *runtime, int *driver);

/* cuda-ops.cu: device operations on host buffers (copying in and out), for tests and the first
 * backend steps. y[n_tok][n_out] = x[n_tok][n_in] . W[n_out][n_in]^T through cuBLAS SGEMM. */
int cuda_matmul_f32(const float *w, const float *x, float *y, int n_out, int n_in, int n_tok,
    char **err);
/* RMSNorm of n_rows rows of n: out = x / sqrt(mean(x^2) + eps) * weight. */
int cuda_rmsnorm_f32(const float *x, const float *weight, float *out, int n_rows, int n,
    float eps, char **err);

#ifdef __cplusplus
}
#endif

#endif
