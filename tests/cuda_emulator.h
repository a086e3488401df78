// Runs the CUDA kernels of gkmeans on the host, one OS thread per CUDA thread, so their logic
// (tiling, bounds, tie-breaking, warp reductions) is tested on machines without a GPU.
//
// Prepended to a kernel source by tests/cuda_emulator.py and compiled with g++ -std=c++20.
// What it emulates: threadIdx / blockIdx / blockDim / gridDim, __shared__ memory (one block
// runs at a time, so a static per kernel is the block's shared memory), __syncthreads (a
// barrier over the block's threads that have not exited, as on Volta and later),
// __shfl_xor_sync over full warps of 32 lanes (a barrier per warp), and atomicAdd (on
// std::atomic_ref, the threads really racing). Undefined behaviour the kernels must never rely on is reported instead of emulated: a shuffle with a partial mask,
// a shuffle in a warp where some lanes have exited or that has fewer than 32 threads.
// What it does not: floating-point contraction into FMA (nvcc contracts a*b+c by default, so
// distances may differ from the GPU's in the last bits), timing, memory coalescing.
#pragma once

#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

namespace gk_emu {

struct Warp {
    std::unique_ptr<std::barrier<>> barrier;
    std::uint64_t slots[32] = {};
    std::atomic<int> live{0};
    int size = 0;
};

struct Block {
    std::unique_ptr<std::barrier<>> barrier;
    std::vector<std::unique_ptr<Warp>> warps;
};

inline thread_local dim3 thread_index;
inline thread_local dim3 block_index;
inline thread_local Block* current_block = nullptr;
inline thread_local int linear_thread = 0;
inline dim3 block_dim;
inline dim3 grid_dim;

inline std::mutex error_mutex;
inline std::string first_error;

inline void report(const std::string& message) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (first_error.empty()) first_error = message;
}

inline Warp& my_warp() { return *current_block->warps[linear_thread / 32]; }

// Runs kernel() for every thread of every block; blocks one after another.
template <typename Kernel>
const char* launch(dim3 grid, dim3 block, Kernel kernel) {
    first_error.clear();
    grid_dim = grid;
    block_dim = block;
    const int threads = int(block.x * block.y * block.z);
    if (threads < 1 || threads > 1024) {
        report("block of " + std::to_string(threads) + " threads: CUDA allows 1 to 1024");
        return first_error.c_str();
    }
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                Block state;
                state.barrier = std::make_unique<std::barrier<>>(threads);
                for (int first = 0; first < threads; first += 32) {
                    auto warp = std::make_unique<Warp>();
                    warp->size = std::min(32, threads - first);
                    warp->live = warp->size;
                    warp->barrier = std::make_unique<std::barrier<>>(warp->size);
                    state.warps.push_back(std::move(warp));
                }
                std::vector<std::thread> pool;
                pool.reserve(threads);
                for (int t = 0; t < threads; ++t) {
                    pool.emplace_back([&, t] {
                        current_block = &state;
                        linear_thread = t;
                        thread_index = dim3{unsigned(t) % block.x, (unsigned(t) / block.x) % block.y,
                                            unsigned(t) / (block.x * block.y)};
                        block_index = dim3{bx, by, bz};
                        kernel();
                        // An exited thread no longer takes part in barriers (as on the GPU).
                        Warp& warp = my_warp();
                        warp.live -= 1;
                        warp.barrier->arrive_and_drop();
                        state.barrier->arrive_and_drop();
                    });
                }
                for (auto& thread : pool) thread.join();
                if (!first_error.empty()) return first_error.c_str();
            }
    return nullptr;
}

}  // namespace gk_emu

#define threadIdx (gk_emu::thread_index)
#define blockIdx (gk_emu::block_index)
#define blockDim (gk_emu::block_dim)
#define gridDim (gk_emu::grid_dim)
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

inline void __syncthreads() { gk_emu::current_block->barrier->arrive_and_wait(); }

inline float __int_as_float(int bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

inline double __longlong_as_double(long long bits) {
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// Atomic addition, as CUDA's (float and double): the emulated threads really run at once.
template <typename T>
T atomicAdd(T* address, T value) {
    return std::atomic_ref<T>(*address).fetch_add(value);
}

template <typename T>
T __shfl_xor_sync(unsigned int mask, T value, int lane_mask) {
    static_assert(sizeof(T) <= sizeof(std::uint64_t), "shuffles of at most 8 bytes");
    gk_emu::Warp& warp = gk_emu::my_warp();
    const int lane = gk_emu::linear_thread % 32;
    if (mask != 0xffffffffu) gk_emu::report("__shfl_xor_sync with a partial mask is not emulated");
    if (warp.size != 32) gk_emu::report("__shfl_xor_sync over all 32 lanes in a warp of " + std::to_string(warp.size) + " threads");
    if (warp.live.load() != 32) gk_emu::report("__shfl_xor_sync over all 32 lanes after some lanes exited");
    std::memcpy(&warp.slots[lane], &value, sizeof(T));
    warp.barrier->arrive_and_wait();
    T other;
    std::memcpy(&other, &warp.slots[(lane ^ lane_mask) & 31], sizeof(T));
    warp.barrier->arrive_and_wait();  // nobody overwrites a slot before every lane has read
    return other;
}
