/* hostdev.h: QUIRE_HD, the qualifier of the functions in the shared math headers (the
 * kernels/ headers named *-math.h), which the CPU code and the CUDA kernels both compile:
 * __host__ __device__ under nvcc, nothing in C. Those functions are written
 * "QUIRE_HD static inline", so every file that includes one gets its own copy. */
#ifndef QUIRE_KERNELS_HOSTDEV_H
#define QUIRE_KERNELS_HOSTDEV_H

#ifdef __CUDACC__
#define QUIRE_HD __host__ __device__
#else
#define QUIRE_HD
#endif

#endif
