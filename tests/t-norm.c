/* t-norm.c: the RMSNorm formula of kernels/norm-math.h (shared with the CUDA kernel) against a
 * double-precision reference. */
#include "config.h"

#include <math.h>

#include "kernels/norm-math.h"
#include "tests/tap.h"

int main(void)
{
	enum { N = 576 };
	float x[N], w[N], out[N];
	for (int i = 0; i < N; i++) {
		x[i] = sinf(0.37f * (float)i) * 3.0f;
		w[i] = 0.5f + (float)(i % 7) * 0.1f;
	}
	rmsnorm_row(x, w, out, N, 1e-5f);
	double ss = 0;
	for (int i = 0; i < N; i++)
		ss += (double)x[i] * x[i];
	double k = 1.0 / sqrt(ss / N + 1e-5);
	double maxd = 0;
	for (int i = 0; i < N; i++)
		maxd = fmax(maxd, fabs(out[i] - x[i] * k * w[i]));
	ok(maxd < 1e-5, "rmsnorm_row matches the double reference (max diff %g)", maxd);
	float zero[4] = { 0, 0, 0, 0 }, one[4] = { 1, 1, 1, 1 }, o[4];
	rmsnorm_row(zero, one, o, 4, 1e-5f);
	ok(o[0] == 0.0f && !isnan(o[3]), "an all-zero row stays zero (eps keeps it finite)");
	is_double(rmsnorm_inv_rms(4.0f, 4, 0.0f), 1.0, 1e-7, "inv_rms of a unit row is 1");
	done_testing();
	return exit_status();
}
