// Cluster sums for the Lloyd update (GKMEANS_CUDA_UPDATE=rows): every element x[i, f] of the rows,
// cast to double and weighted in registers, is added to its cluster's float64 sum by an atomic, and
// every row's weight to its cluster's weight. One read of the rows and no temporaries:
// cupyx.scatter_add needs them cast and weighted into a float64 copy first (two more passes over
// twice the bytes). float64 atomics are native from compute capability 6.0.
//
// Launch: 1-D, any grid (a grid-stride loop covers rows * d elements), 256 threads a block.
// Compiled by CuPy's RawModule at first use; `nvcc -c` checks it in the test suite.

template <typename T>
__device__ void gk_cluster_sums(const T* __restrict__ X, const T* __restrict__ w, const long long* __restrict__ labels,
                                long long rows, int d, double* sums, double* weight_sums) {
    const long long total = rows * (long long)d;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const long long row = i / d;
        const int feature = (int)(i - row * d);
        const double weight = (double)w[row];
        const long long label = labels[row];
        atomicAdd(&sums[label * d + feature], (double)X[i] * weight);
        if (feature == 0) atomicAdd(&weight_sums[label], weight);
    }
}

extern "C" __global__ void gk_cluster_sums_f32(const float* X, const float* w, const long long* labels,
                                               long long rows, int d, double* sums, double* weight_sums) {
    gk_cluster_sums<float>(X, w, labels, rows, d, sums, weight_sums);
}

extern "C" __global__ void gk_cluster_sums_f64(const double* X, const double* w, const long long* labels,
                                               long long rows, int d, double* sums, double* weight_sums) {
    gk_cluster_sums<double>(X, w, labels, rows, d, sums, weight_sums);
}
