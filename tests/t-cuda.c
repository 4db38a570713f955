/* t-cuda.c: the CUDA kernels built so far (a cuBLAS matmul and the RMSNorm kernel) against the
 * CPU reference; the CUDA backend itself is not built yet.
 * Reports SKIP when the build has no CUDA backend or the machine has no GPU, never PASS. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "kernels/norm-math.h"
#include "tests/tap.h"

#ifdef HAVE_CUDA
#include "kernels/cuda-backend.h"
#include "lib/util.h"

static float frand(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

int main(void)
{
	char *err = NULL;
	int n = cuda_device_count(&err);
	if (n < 0) {
		diag("%s", err);
		return skip_all("CUDA reports an error probing devices");
	}
	if (n == 0)
		return skip_all("no CUDA device on this machine");
	plan(4);
	struct cuda_device_info info;
	ok(cuda_device_probe(0, &info, &err) == 0 && info.total_mem > 0, "device 0: %s, cc %d.%d",
	    info.name, info.cc_major, info.cc_minor);

	enum { NO = 67, NI = 96, NT = 5 };
	unsigned seed = 7;
	float *w = xmalloc(sizeof(float) * NO * NI), *x = xmalloc(sizeof(float) * NT * NI);
	float *y = xmalloc(sizeof(float) * NT * NO);
	for (int i = 0; i < NO * NI; i++)
		w[i] = frand(&seed);
	for (int i = 0; i < NT * NI; i++)
		x[i] = frand(&seed);
	ok(cuda_matmul_f32(w, x, y, NO, NI, NT, &err) == 0, "cuBLAS matmul runs");
	double maxd = 0;
	for (int t = 0; t < NT; t++)
		for (int o = 0; o < NO; o++) {
			double ref = 0;
			for (int i = 0; i < NI; i++)
				ref += (double)x[t * NI + i] * w[o * NI + i];
			maxd = fmax(maxd, fabs(ref - y[t * NO + o]));
		}
	ok(maxd < 1e-3, "matmul matches the CPU (max diff %g)", maxd);

	float *o1 = xmalloc(sizeof(float) * NT * NI), *o2 = xmalloc(sizeof(float) * NT * NI);
	cuda_rmsnorm_f32(x, w, o1, NT, NI, 1e-5f, &err);
	for (int t = 0; t < NT; t++)
		rmsnorm_row(x + t * NI, w, o2 + t * NI, NI, 1e-5f);
	maxd = 0;
	for (int i = 0; i < NT * NI; i++)
		maxd = fmax(maxd, fabs(o1[i] - o2[i]));
	ok(maxd < 1e-4, "RMSNorm kernel matches norm-math.h on the CPU (max diff %g)", maxd);
	free(w), free(x), free(y), free(o1), free(o2);
	return exit_status();
}
#else
int main(void)
{
	return skip_all("built without the CUDA backend (--enable-cuda=no or no toolkit)");
}
#endif
