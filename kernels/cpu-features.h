/* cpu-features.h: what the processor can run (CPUID and the OS's saved-state mask) and which
 * SIMD level the CPU kernels use, chosen once at run time so one binary serves every x86-64.
 *
 * Levels: "scalar" (portable C), "avx2" (AVX2 + FMA + F16C), "avx512" (AVX-512 F/BW/VL + VNNI,
 * plus F16C). The environment variable QUIRE_SIMD=scalar|avx2|avx512 caps the level; asking for
 * one this CPU lacks is an error reported by cpu_simd_init(). AMX is detected and reported only:
 * quire has no AMX kernel. */
#ifndef QUIRE_KERNELS_CPU_FEATURES_H
#define QUIRE_KERNELS_CPU_FEATURES_H

#include <stddef.h>

enum cpu_simd_level {
	CPU_SIMD_SCALAR = 0,
	CPU_SIMD_AVX2 = 1,
	CPU_SIMD_AVX512 = 2,
	CPU_SIMD_COUNT_ = 3
};

/* 1 where the SIMD levels exist (x86, x86-64); elsewhere only scalar kernels are built and the
 * FAMILY-avx2.c and FAMILY-avx512.c files compile to nothing. */
#if defined(__x86_64__) || defined(__i386__)
#define CPU_SIMD_X86 1
#else
#define CPU_SIMD_X86 0
#endif

struct cpu_features {
	int x86;              /* 1 on x86/x86-64, where CPUID was read */
	int os_avx;           /* the OS saves YMM state (XCR0 bits 1-2) */
	int os_avx512;        /* the OS saves opmask and ZMM state (XCR0 bits 5-7) */
	int os_amx;           /* the OS saves tile state (XCR0 bits 17-18) */
	int avx, avx2, fma, f16c;
	int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
	int avx_vnni;         /* VEX-encoded VNNI (not used by a kernel) */
	int amx_tile, amx_int8, amx_bf16;   /* detection only */
};

/* cpu-features.c */
const struct cpu_features *cpu_features_get(void);   /* read once, then cached */
/* 1 if the CPU and OS can run kernels of this level. */
int cpu_simd_supported(enum cpu_simd_level level);
enum cpu_simd_level cpu_simd_best(void);
const char *cpu_simd_name(enum cpu_simd_level level);   /* "scalar", "avx2", "avx512" */
/* Parse a level name; -1 with *err if unknown. */
int cpu_simd_parse(const char *name, enum cpu_simd_level *out, char **err);

/* Choose the active level: QUIRE_SIMD if set, else the best supported. Returns -1 with *err
 * when QUIRE_SIMD names an unknown level or one this CPU lacks (the active level is then the
 * best supported one). Call it once at start-up; later calls redo the choice. */
int cpu_simd_init(char **err);
/* Force a level (tests, benchmarks): -1 with *err if the CPU lacks it. */
int cpu_simd_set(enum cpu_simd_level level, char **err);
/* The active level; if neither init nor set ran, the best supported level, capped by a valid
 * QUIRE_SIMD. */
enum cpu_simd_level cpu_simd_level(void);
const char *cpu_simd_level_name(void);
/* A one-line list of the detected features, e.g. "avx2 fma f16c avx512f ... (no amx)", for
 * `quire info`; static storage. */
const char *cpu_features_string(void);

/* Dispatch (kernels/README). A kernel family keeps one table of CPU_SIMD_COUNT_ entries indexed
 * by level, each its kernels for that level (a struct pointer or a function pointer):
 *   static const struct attn_kernels *const by_level[CPU_SIMD_COUNT_] = {
 *       &attn_kernels_scalar, CPU_SIMD_X86_ONLY(&attn_kernels_avx2), ... };
 * and its X_for(level) and X_active() are CPU_SIMD_PICK(by_level, level) and
 * CPU_SIMD_PICK_ACTIVE(by_level). */
#if CPU_SIMD_X86
#define CPU_SIMD_X86_ONLY(entry) (entry)
#else
#define CPU_SIMD_X86_ONLY(entry) NULL
#endif
/* by_level[level], or NULL when level is out of range or this CPU (or OS) lacks it. */
#define CPU_SIMD_PICK(by_level, level) \
	(cpu_simd_supported((enum cpu_simd_level)(level)) ? (by_level)[(level)] : NULL)
/* The entry of the active level (always one this CPU has), or the scalar entry where the
 * family has none at that level. */
#define CPU_SIMD_PICK_ACTIVE(by_level) \
	((by_level)[cpu_simd_level()] != NULL ? (by_level)[cpu_simd_level()] : \
	    (by_level)[CPU_SIMD_SCALAR])

#endif
