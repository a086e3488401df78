// Row argmin of a chunk of the cuBLAS assignment: for every row i of a (rows x k) block
// G = (X - shift) @ (-2 C^T), the nearest centre argmin_j G[i, j] + ||c_j||^2 and its squared
// distance ||x_i||^2 + G[i, j] + ||c_j||^2 clamped at 0.
//
// It replaces the four passes of the array path (add ||c||^2 into a new n x k block, argmin,
// gather, add) by one read of G, which the GEMM has just written to the L2 cache when chunks
// are L2-sized. The additions are the array path's, in its order (G + c_sq, then + ||x||^2),
// and ties go to the lowest index as with argmin, so the labels are the array path's.
//
// One warp per row: lanes read consecutive centres (coalesced), keep a running (value, index)
// minimum with a strict < (each lane visits its centres in increasing order), then a butterfly
// over the warp breaks ties towards the lower index. ||x||^2 comes from row_sq when has_row_sq,
// else from the rows of `block` (d features each, contiguous).
//
// Launch: block = 256 threads (8 rows), grid = ceil(rows / 8).
// Compiled by CuPy's RawModule at first use; `nvcc -c` checks it in the test suite.

#include "gk_common.cuh"

template <typename T>
__device__ void gk_row_argmin(const T* __restrict__ G, const T* __restrict__ c_sq, const T* __restrict__ block,
                              const T* __restrict__ row_sq, int has_row_sq, int rows, int k, int d,
                              long long* __restrict__ labels, T* __restrict__ min_sq) {
    const int lane = threadIdx.x & 31;
    const int row = (int)((blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5);
    if (row >= rows) return;  // the whole warp leaves together: blockDim.x is a multiple of 32

    const T* g = G + (long long)row * k;
    T best = gk_infinity<T>();
    int best_index = 0x7fffffff;
    for (int j = lane; j < k; j += 32) {
        const T value = g[j] + c_sq[j];
        if (value < best) {
            best = value;
            best_index = j;
        }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const T other = __shfl_xor_sync(0xffffffffu, best, offset);
        const int other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
        if (other < best || (other == best && other_index < best_index)) {
            best = other;
            best_index = other_index;
        }
    }

    T norm;
    if (has_row_sq) {
        norm = row_sq[row];
    } else {
        const T* x = block + (long long)row * d;
        T sum = T(0);
        for (int f = lane; f < d; f += 32) sum += x[f] * x[f];
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
        norm = sum;
    }
    if (lane == 0) {
        // No finite value (a row of NaN): centre 0, as a defined answer; validated input has none.
        labels[row] = best_index == 0x7fffffff ? 0 : best_index;
        const T value = best + norm;
        min_sq[row] = value > T(0) ? value : T(0);
    }
}

extern "C" __global__ void gk_row_argmin_f32(const float* G, const float* c_sq, const float* block,
                                             const float* row_sq, int has_row_sq, int rows, int k, int d,
                                             long long* labels, float* min_sq) {
    gk_row_argmin<float>(G, c_sq, block, row_sq, has_row_sq, rows, k, d, labels, min_sq);
}

extern "C" __global__ void gk_row_argmin_f64(const double* G, const double* c_sq, const double* block,
                                             const double* row_sq, int has_row_sq, int rows, int k, int d,
                                             long long* labels, double* min_sq) {
    gk_row_argmin<double>(G, c_sq, block, row_sq, has_row_sq, rows, k, d, labels, min_sq);
}
