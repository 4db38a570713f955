/* cpu-features.c: reads CPUID and XCR0 once and keeps the active SIMD level for the kernels. */
#include "kernels/cpu-features.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#if CPU_SIMD_X86
#include <cpuid.h>
#endif

static struct cpu_features features;
static int features_ready;          /* atomic: 1 once features is filled */
static int active_level = -1;       /* atomic: enum cpu_simd_level, or -1 before the choice */

static const char *const level_names[CPU_SIMD_COUNT_] = { "scalar", "avx2", "avx512" };

#if CPU_SIMD_X86
/* XGETBV via its encoding, so no -mxsave is needed for the whole file. */
static unsigned long long read_xcr0(void)
{
	unsigned int eax, edx;
	__asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
	return ((unsigned long long)edx << 32) | eax;
}

static void detect(struct cpu_features *f)
{
	unsigned int a, b, c, d, max_leaf;
	f->x86 = 1;
	max_leaf = __get_cpuid_max(0, 0);
	if (max_leaf < 1 || !__get_cpuid(1, &a, &b, &c, &d))
		return;
	int osxsave = (c >> 27) & 1;
	f->avx = (c >> 28) & 1;
	f->fma = (c >> 12) & 1;
	f->f16c = (c >> 29) & 1;
	if (osxsave) {
		unsigned long long xcr0 = read_xcr0();
		f->os_avx = (xcr0 & 0x6) == 0x6;
		f->os_avx512 = f->os_avx && (xcr0 & 0xe0) == 0xe0;
		f->os_amx = (xcr0 & 0x60000) == 0x60000;
	}
	if (max_leaf >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		unsigned int sub_max = a;
		f->avx2 = (b >> 5) & 1;
		f->avx512f = (b >> 16) & 1;
		f->avx512dq = (b >> 17) & 1;
		f->avx512bw = (b >> 30) & 1;
		f->avx512vl = (b >> 31) & 1;
		f->avx512vnni = (c >> 11) & 1;
		f->amx_bf16 = (d >> 22) & 1;
		f->amx_tile = (d >> 24) & 1;
		f->amx_int8 = (d >> 25) & 1;
		if (sub_max >= 1) {
			__cpuid_count(7, 1, a, b, c, d);
			f->avx_vnni = (a >> 4) & 1;
			f->avx512bf16 = (a >> 5) & 1;
		}
	}
}
#else
static void detect(struct cpu_features *f)
{
	(void)f;
}
#endif

const struct cpu_features *cpu_features_get(void)
{
	if (!__atomic_load_n(&features_ready, __ATOMIC_ACQUIRE)) {
		struct cpu_features f;
		memset(&f, 0, sizeof f);
		detect(&f);
		/* Several threads may detect at once; they all store the same bytes. */
		features = f;
		__atomic_store_n(&features_ready, 1, __ATOMIC_RELEASE);
	}
	return &features;
}

int cpu_simd_supported(enum cpu_simd_level level)
{
	const struct cpu_features *f = cpu_features_get();
	int avx2 = f->os_avx && f->avx && f->avx2 && f->fma && f->f16c;
	switch (level) {
	case CPU_SIMD_SCALAR:
		return 1;
	case CPU_SIMD_AVX2:
		return CPU_SIMD_X86 && avx2;
	case CPU_SIMD_AVX512:
		return CPU_SIMD_X86 && avx2 && f->os_avx512 && f->avx512f && f->avx512bw &&
		    f->avx512vl && f->avx512vnni;
	default:
		return 0;
	}
}

enum cpu_simd_level cpu_simd_best(void)
{
	for (int l = CPU_SIMD_COUNT_ - 1; l > 0; l--)
		if (cpu_simd_supported((enum cpu_simd_level)l))
			return (enum cpu_simd_level)l;
	return CPU_SIMD_SCALAR;
}

const char *cpu_simd_name(enum cpu_simd_level level)
{
	if ((int)level < 0 || level >= CPU_SIMD_COUNT_)
		return "?";
	return level_names[level];
}

int cpu_simd_parse(const char *name, enum cpu_simd_level *out, char **err)
{
	for (int l = 0; l < CPU_SIMD_COUNT_; l++) {
		if (strcmp(name, level_names[l]) == 0) {
			*out = (enum cpu_simd_level)l;
			return 0;
		}
	}
	if (strcmp(name, "amx") == 0)
		return q_error(err, "SIMD level 'amx': quire has no AMX kernels (the machines it is "
		    "built and tested on have no AMX tiles; expected scalar, avx2 or avx512)");
	return q_error(err, "unknown SIMD level '%s' (expected scalar, avx2 or avx512)", name);
}

/* The level QUIRE_SIMD asks for: 0 and *out set, 1 if unset, -1 with *err if unusable. */
static int env_level(enum cpu_simd_level *out, char **err)
{
	const char *s = getenv("QUIRE_SIMD");
	if (s == NULL || *s == '\0')
		return 1;
	char *why = NULL;
	if (cpu_simd_parse(s, out, &why) < 0) {
		q_error(err, "QUIRE_SIMD=%s: %s", s, why);
		free(why);
		return -1;
	}
	if (!cpu_simd_supported(*out))
		return q_error(err, "QUIRE_SIMD=%s: this CPU (or OS) lacks %s; the best level here "
		    "is %s", s, s, cpu_simd_name(cpu_simd_best()));
	return 0;
}

int cpu_simd_init(char **err)
{
	enum cpu_simd_level l = CPU_SIMD_SCALAR;
	int r = env_level(&l, err);
	if (r != 0)
		l = cpu_simd_best();
	__atomic_store_n(&active_level, (int)l, __ATOMIC_RELEASE);
	return r < 0 ? -1 : 0;
}

int cpu_simd_set(enum cpu_simd_level level, char **err)
{
	if ((int)level < 0 || level >= CPU_SIMD_COUNT_)
		return q_error(err, "SIMD level %d out of range", (int)level);
	if (!cpu_simd_supported(level))
		return q_error(err, "this CPU (or OS) lacks SIMD level %s", cpu_simd_name(level));
	__atomic_store_n(&active_level, (int)level, __ATOMIC_RELEASE);
	return 0;
}

enum cpu_simd_level cpu_simd_level(void)
{
	int l = __atomic_load_n(&active_level, __ATOMIC_ACQUIRE);
	if (l < 0) {
		(void)cpu_simd_init(NULL);
		l = __atomic_load_n(&active_level, __ATOMIC_ACQUIRE);
	}
	return (enum cpu_simd_level)l;
}

const char *cpu_simd_level_name(void)
{
	return cpu_simd_name(cpu_simd_level());
}

const char *cpu_features_string(void)
{
	static char line[256];
	static int line_ready;
	if (__atomic_load_n(&line_ready, __ATOMIC_ACQUIRE))
		return line;
	const struct cpu_features *f = cpu_features_get();
	static const struct { const char *name; size_t off; } names[] = {
		{ "avx", offsetof(struct cpu_features, avx) },
		{ "avx2", offsetof(struct cpu_features, avx2) },
		{ "fma", offsetof(struct cpu_features, fma) },
		{ "f16c", offsetof(struct cpu_features, f16c) },
		{ "avx512f", offsetof(struct cpu_features, avx512f) },
		{ "avx512bw", offsetof(struct cpu_features, avx512bw) },
		{ "avx512vl", offsetof(struct cpu_features, avx512vl) },
		{ "avx512dq", offsetof(struct cpu_features, avx512dq) },
		{ "avx512vnni", offsetof(struct cpu_features, avx512vnni) },
		{ "avx512bf16", offsetof(struct cpu_features, avx512bf16) },
		{ "avxvnni", offsetof(struct cpu_features, avx_vnni) },
		{ "amx-tile", offsetof(struct cpu_features, amx_tile) },
		{ "amx-int8", offsetof(struct cpu_features, amx_int8) },
		{ "amx-bf16", offsetof(struct cpu_features, amx_bf16) },
	};
	char tmp[256];
	size_t len = 0;
	tmp[0] = '\0';
	for (size_t i = 0; i < Q_ARRAY_LEN(names); i++) {
		if (!*(const int *)((const char *)f + names[i].off))
			continue;
		int n = snprintf(tmp + len, sizeof tmp - len, "%s%s", len ? " " : "", names[i].name);
		if (n < 0 || (size_t)n >= sizeof tmp - len)
			break;
		len += (size_t)n;
	}
	if (!f->amx_tile)
		snprintf(tmp + len, sizeof tmp - len, "%s(no amx)", len ? " " : "");
	else if (!f->os_amx)
		snprintf(tmp + len, sizeof tmp - len, " (amx not enabled by the OS)");
	if (len == 0 && !f->x86)
		snprintf(tmp, sizeof tmp, "(not x86: scalar kernels only)");
	memcpy(line, tmp, sizeof line);
	__atomic_store_n(&line_ready, 1, __ATOMIC_RELEASE);
	return line;
}
