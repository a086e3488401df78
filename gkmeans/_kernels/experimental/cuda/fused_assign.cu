// Fused squared-distance + argmin for the k-means assignment step.
//
// For every row x of (X - shift) it finds argmin_c ||c||^2 - 2 x.c over the k centres
// without ever writing the n x k distance matrix to device memory: a block owns BM rows,
// walks the centres in tiles of BN, accumulates the dot products over the features in
// tiles of BK through shared memory (4 x 4 register micro-tiles per thread), and keeps a
// running (value, index) minimum per row in registers. Ties go to the lowest centre
// index, as the Array API path's argmin. ||x||^2 is accumulated from the same tiles during
// the first centre tile and added at the end, so the squared distance needs no other pass.
//
// Launch: grid = ceil(n / BM), block = (BN / TN, BM / TM) = (16, 16).
// Compiled by CuPy's RawModule at first use; `nvcc -c` checks it in the test suite.

#define GK_BM 64
#define GK_BN 64
#define GK_BK 16
#define GK_TM 4
#define GK_TN 4

#include "gk_common.cuh"

template <typename T>
__device__ void gk_fused_assign(const T* __restrict__ X, const T* __restrict__ shift, const T* __restrict__ C,
                                const T* __restrict__ c_sq, long long n, int k, int d,
                                long long* __restrict__ labels, T* __restrict__ min_sq) {
    // Transposed tiles: consecutive threads read consecutive rows / centres (no bank conflicts).
    __shared__ T x_tile[GK_BK][GK_BM + 1];
    __shared__ T c_tile[GK_BK][GK_BN + 1];
    const int tx = threadIdx.x;  // which 4 centres of the tile
    const int ty = threadIdx.y;  // which 4 rows of the block
    const int tid = ty * blockDim.x + tx;
    const int n_threads = blockDim.x * blockDim.y;
    const long long row0 = (long long)blockIdx.x * GK_BM;

    T best[GK_TM];
    T row_sq[GK_TM];
    int best_index[GK_TM];
#pragma unroll
    for (int i = 0; i < GK_TM; ++i) {
        best[i] = gk_infinity<T>();
        row_sq[i] = T(0);
        best_index[i] = 0x7fffffff;
    }

    for (int c0 = 0; c0 < k; c0 += GK_BN) {
        T acc[GK_TM][GK_TN];
#pragma unroll
        for (int i = 0; i < GK_TM; ++i)
#pragma unroll
            for (int j = 0; j < GK_TN; ++j) acc[i][j] = T(0);

        for (int k0 = 0; k0 < d; k0 += GK_BK) {
            for (int e = tid; e < GK_BM * GK_BK; e += n_threads) {
                const int r = e / GK_BK, f = e % GK_BK;
                const long long row = row0 + r;
                const int feature = k0 + f;
                x_tile[f][r] = (row < n && feature < d) ? X[row * d + feature] - shift[feature] : T(0);
            }
            for (int e = tid; e < GK_BN * GK_BK; e += n_threads) {
                const int c = e / GK_BK, f = e % GK_BK;
                const int centre = c0 + c;
                const int feature = k0 + f;
                c_tile[f][c] = (centre < k && feature < d) ? C[(long long)centre * d + feature] : T(0);
            }
            __syncthreads();
#pragma unroll
            for (int f = 0; f < GK_BK; ++f) {
                T a[GK_TM], b[GK_TN];
#pragma unroll
                for (int i = 0; i < GK_TM; ++i) a[i] = x_tile[f][ty * GK_TM + i];
                if (c0 == 0) {  // the rows' squared norms, once (the same branch for the whole block)
#pragma unroll
                    for (int i = 0; i < GK_TM; ++i) row_sq[i] += a[i] * a[i];
                }
#pragma unroll
                for (int j = 0; j < GK_TN; ++j) b[j] = c_tile[f][tx * GK_TN + j];
#pragma unroll
                for (int i = 0; i < GK_TM; ++i)
#pragma unroll
                    for (int j = 0; j < GK_TN; ++j) acc[i][j] += a[i] * b[j];
            }
            __syncthreads();
        }
        // Centres are visited in increasing index within a thread: a strict < keeps the lowest on ties.
#pragma unroll
        for (int j = 0; j < GK_TN; ++j) {
            const int centre = c0 + tx * GK_TN + j;
            if (centre < k) {
                const T centre_sq = c_sq[centre];
#pragma unroll
                for (int i = 0; i < GK_TM; ++i) {
                    const T value = centre_sq - T(2) * acc[i][j];
                    if (value < best[i]) {
                        best[i] = value;
                        best_index[i] = centre;
                    }
                }
            }
        }
    }

    // The 16 threads sharing a row group are 16 consecutive lanes of one warp (tx is the fast
    // index): a butterfly over lane offsets 8, 4, 2, 1 stays inside them.
#pragma unroll
    for (int i = 0; i < GK_TM; ++i) {
#pragma unroll
        for (int offset = GK_BN / GK_TN / 2; offset > 0; offset >>= 1) {
            const T other = __shfl_xor_sync(0xffffffffu, best[i], offset);
            const int other_index = __shfl_xor_sync(0xffffffffu, best_index[i], offset);
            if (other < best[i] || (other == best[i] && other_index < best_index[i])) {
                best[i] = other;
                best_index[i] = other_index;
            }
        }
    }
    if (tx == 0) {
#pragma unroll
        for (int i = 0; i < GK_TM; ++i) {
            const long long row = row0 + ty * GK_TM + i;
            if (row < n) {
                const T value = best[i] + row_sq[i];
                // No finite value (a row of NaN): centre 0, a valid label; validated input has none.
                labels[row] = best_index[i] == 0x7fffffff ? 0 : best_index[i];
                min_sq[row] = value > T(0) ? value : T(0);
            }
        }
    }
}

extern "C" __global__ void
gk_fused_assign_f32(const float* X, const float* shift, const float* C, const float* c_sq, long long n, int k,
                    int d, long long* labels, float* min_sq) {
    gk_fused_assign<float>(X, shift, C, c_sq, n, k, d, labels, min_sq);
}

extern "C" __global__ void
gk_fused_assign_f64(const double* X, const double* shift, const double* C, const double* c_sq, long long n, int k,
                    int d, long long* labels, double* min_sq) {
    gk_fused_assign<double>(X, shift, C, c_sq, n, k, d, labels, min_sq);
}
