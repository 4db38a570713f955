// cuda-device.cu: finds CUDA devices and reports what they are, so quire can choose a backend
// and `quire info` can say what it found.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda-backend.h"

static int cuda_fail(char **err, const char *what, cudaError_t e)
{
	if (err != NULL) {
		free(*err);
		size_t n = strlen(what) + 128;
		*err = (char *)malloc(n);
		if (*err != NULL)
			snprintf(*err, n, "CUDA: %s: %s", what, cudaGetErrorString(e));
	}
	return -1;
}

extern "C" int cuda_device_count(char **err)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver)
		return 0;
	if (e != cudaSuccess)
		return cuda_fail(err, "cudaGetDeviceCount", e);
	return n;
}

extern "C" int cuda_device_probe(int index, struct cuda_device_info *info, char **err)
{
	cudaDeviceProp p;
	cudaError_t e = cudaGetDeviceProperties(&p, index);
	if (e != cudaSuccess)
		return cuda_fail(err, "cudaGetDeviceProperties", e);
	memset(info, 0, sizeof(*info));
	info->index = index;
	snprintf(info->name, sizeof(info->name), "%s", p.name);
	info->cc_major = p.major;
	info->cc_minor = p.minor;
	info->total_mem = p.totalGlobalMem;
	info->multiprocessors = p.multiProcessorCount;
	e = cudaSetDevice(index);
	if (e != cudaSuccess)
		return cuda_fail(err, "cudaSetDevice", e);
	size_t free_b = 0, total_b = 0;
	e = cudaMemGetInfo(&free_b, &total_b);
	if (e != cudaSuccess)
		return cuda_fail(err, "cudaMemGetInfo", e);
	info->free_mem = free_b;
	return 0;
}

extern "C" int cuda_versions(int *runtime, int *driver)
{
	*runtime = *driver = 0;
	if (cudaRuntimeGetVersion(runtime) != cudaSuccess)
		return -1;
	if (cudaDriverGetVersion(driver) != cudaSuccess)
		return -1;
	return 0;
}
