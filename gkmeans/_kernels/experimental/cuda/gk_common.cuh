// Helpers shared by the gkmeans CUDA kernels (included by each .cu; CuPy compiles them with
// this folder on the include path).
#pragma once

// +infinity of T, the starting value of a running minimum.
template <typename T>
__device__ __forceinline__ T gk_infinity();
template <>
__device__ __forceinline__ float gk_infinity<float>() { return __int_as_float(0x7f800000); }
template <>
__device__ __forceinline__ double gk_infinity<double>() { return __longlong_as_double(0x7ff0000000000000LL); }
