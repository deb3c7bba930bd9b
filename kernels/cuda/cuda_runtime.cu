/* cuda_runtime.cu — device selection, memory and copies, each status checked. */
#include <stdio.h>

#include "kernels/cuda/cuda_common.cuh"

extern "C" int g2r_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no device" so later calls start clean */
        return 0;
    }
    return n;
}

extern "C" g2r_status g2r_cuda_init(g2r_error *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return g2r_fail(err, G2R_EDEVICE, "cuda: no CUDA device (cudaGetDeviceCount: %s)",
                        e == cudaSuccess ? "0 devices" : cudaGetErrorString(e));
    }
    return g2r_cuda_status(cudaSetDevice(0), "cudaSetDevice(0)", err);
}

extern "C" void g2r_cuda_device_name(char *buf, size_t cap) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        cudaGetLastError();
        snprintf(buf, cap, "no CUDA device");
        return;
    }
    snprintf(buf, cap, "%s, sm_%d%d, %d SMs, %.1f GiB", p.name, p.major, p.minor, p.multiProcessorCount,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
}

extern "C" g2r_status g2r_cuda_malloc(void **d_out, size_t bytes, const char *what, g2r_error *err) {
    *d_out = NULL;
    cudaError_t e = cudaMalloc(d_out, bytes ? bytes : 1);
    if (e == cudaSuccess) return G2R_OK;
    *d_out = NULL;
    cudaGetLastError();
    return g2r_fail(err, e == cudaErrorMemoryAllocation ? G2R_ENOMEM : G2R_EDEVICE,
                    "cuda: cudaMalloc(%zu bytes for %s): %s", bytes, what, cudaGetErrorString(e));
}

extern "C" void g2r_cuda_free(void *d) {
    if (d) cudaFree(d);
}

extern "C" g2r_status g2r_cuda_upload(void *d_dst, const void *src, size_t bytes, g2r_cuda_stream s,
                                      g2r_error *err) {
    if (!bytes) return G2R_OK;
    return g2r_cuda_status(cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, g2r_stream(s)),
                           "cudaMemcpyAsync(host to device)", err);
}

/* Waits for the copy: the caller reads dst next. */
extern "C" g2r_status g2r_cuda_download(void *dst, const void *d_src, size_t bytes, g2r_cuda_stream s,
                                        g2r_error *err) {
    if (!bytes) return G2R_OK;
    g2r_status st = g2r_cuda_status(cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, g2r_stream(s)),
                                    "cudaMemcpyAsync(device to host)", err);
    if (st) return st;
    return g2r_cuda_status(cudaStreamSynchronize(g2r_stream(s)), "cudaStreamSynchronize after download", err);
}

extern "C" g2r_status g2r_cuda_sync(g2r_cuda_stream s, g2r_error *err) {
    return g2r_cuda_status(cudaStreamSynchronize(g2r_stream(s)), "cudaStreamSynchronize", err);
}

/* splitmix64 of (seed, i): every element independent of the launch shape. */
__global__ void fill_uniform_kernel(float *d, size_t n, uint64_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        d[i] = (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
    }
}

extern "C" g2r_status g2r_cuda_fill_uniform(float *d, size_t n, uint64_t seed, g2r_cuda_stream s, g2r_error *err) {
    if (!n) return G2R_OK;
    int blocks = (int)(n / 256 + 1 < 65536 ? n / 256 + 1 : 65536);
    fill_uniform_kernel<<<blocks, 256, 0, g2r_stream(s)>>>(d, n, seed);
    return g2r_cuda_launched("fill_uniform_kernel", err);
}
