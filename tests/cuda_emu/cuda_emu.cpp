/* cuda_emu.cpp — the scheduler and runtime behind cuda_emu.h: one fiber per
 * CUDA thread, blocks run one after another, barriers released when every
 * live thread of the block (or warp) waits at one.  A fiber starts with
 * setcontext and then switches with _setjmp/_longjmp, which (unlike
 * swapcontext) make no system call; built without _FORTIFY_SOURCE, whose
 * longjmp check refuses to jump between stacks. */
#include "tests/cuda_emu/cuda_emu.h"

#include <setjmp.h>
#include <ucontext.h>

#include <vector>

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
unsigned char *g2r_emu_dyn_smem;

namespace {

enum state { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };

struct fiber {
    ucontext_t uc;
    jmp_buf jb;
    bool started;
    state st;
    uint3 tid;
};

constexpr size_t STACK = 256 * 1024;

jmp_buf sched;
std::vector<fiber> fibers;
std::vector<char *> stacks;
int current;
std::function<void()> *body;
uint64_t slots[1024];

void trampoline() {
    (*body)();
    fibers[current].st = DONE;
    _longjmp(sched, 1);
}

void wait_as(state s) {
    fibers[current].st = s;
    if (!_setjmp(fibers[current].jb)) _longjmp(sched, 1);
}

void resume(int t) {
    current = t;
    threadIdx = fibers[t].tid;
    if (_setjmp(sched)) return; /* the fiber waits or is done */
    if (!fibers[t].started) {
        fibers[t].started = true;
        setcontext(&fibers[t].uc);
    }
    _longjmp(fibers[t].jb, 1);
}

/* Releases the barriers whose every live thread has arrived; false when no
 * thread can run and some are still waiting (a deadlock). */
bool release() {
    int n = (int)fibers.size();
    bool any_runnable = false, all_done = true;
    bool block_ready = true, block_waiting = false;
    for (auto &f : fibers) {
        if (f.st == DONE) continue;
        all_done = false;
        if (f.st != WAIT_BLOCK) block_ready = false;
        else block_waiting = true;
        if (f.st == RUNNABLE) any_runnable = true;
    }
    if (all_done || any_runnable) return true;
    if (block_ready && block_waiting) {
        for (auto &f : fibers)
            if (f.st == WAIT_BLOCK) f.st = RUNNABLE;
        return true;
    }
    bool released = false;
    for (int w = 0; w * 32 < n; w++) {
        bool ready = true, waiting = false;
        for (int i = w * 32; i < n && i < w * 32 + 32; i++) {
            if (fibers[i].st == DONE) continue;
            if (fibers[i].st != WAIT_WARP) ready = false;
            else waiting = true;
        }
        if (ready && waiting) {
            for (int i = w * 32; i < n && i < w * 32 + 32; i++)
                if (fibers[i].st == WAIT_WARP) fibers[i].st = RUNNABLE;
            released = true;
        }
    }
    return released;
}

} // namespace

void g2r_emu_syncthreads(void) { wait_as(WAIT_BLOCK); }
void g2r_emu_syncwarp(void) { wait_as(WAIT_WARP); }

uint64_t g2r_emu_exchange(uint64_t mine, int src_lane) {
    int me = current, base = me & ~31;
    slots[me] = mine;
    wait_as(WAIT_WARP); /* every lane has written */
    uint64_t v = base + src_lane < (int)fibers.size() ? slots[base + src_lane] : 0;
    wait_as(WAIT_WARP); /* every lane has read before any writes again */
    return v;
}

void g2r_emu_launch(dim3 grid, dim3 block, size_t smem, std::function<void()> fn) {
    int nt = (int)(block.x * block.y * block.z);
    if (nt < 1 || nt > 1024 || block.y != 1 || block.z != 1) {
        fprintf(stderr, "cuda_emu: block of %u x %u x %u threads is not supported\n", block.x, block.y, block.z);
        abort();
    }
    std::vector<unsigned char> dyn(smem + 16);
    g2r_emu_dyn_smem = (unsigned char *)(((uintptr_t)dyn.data() + 15) & ~(uintptr_t)15);
    if (stacks.empty()) atexit([] {
            for (char *p : stacks) free(p);
        });
    while ((int)stacks.size() < nt) stacks.push_back((char *)malloc(STACK));
    gridDim = grid;
    blockDim = block;
    body = &fn;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = uint3{bx, by, bz};
                memset(dyn.data(), 0xA5, dyn.size()); /* shared memory starts as garbage */
                fibers.assign((size_t)nt, fiber{});
                for (int t = 0; t < nt; t++) {
                    fiber &f = fibers[t];
                    getcontext(&f.uc);
                    f.uc.uc_stack.ss_sp = stacks[t];
                    f.uc.uc_stack.ss_size = STACK;
                    f.uc.uc_link = NULL;
                    makecontext(&f.uc, trampoline, 0);
                    f.st = RUNNABLE;
                    f.started = false;
                    f.tid = uint3{(unsigned)t, 0, 0};
                }
                for (int round = 0;; round++) {
                    bool ran = false;
                    /* alternate the order threads run between barriers, so a
                     * missing barrier shows up whichever side reads first */
                    for (int i = 0; i < nt; i++) {
                        int t = round % 2 ? nt - 1 - i : i;
                        if (fibers[t].st != RUNNABLE) continue;
                        resume(t);
                        ran = true;
                    }
                    bool all_done = true;
                    for (auto &f : fibers) all_done &= f.st == DONE;
                    if (all_done) break;
                    if (!ran && !release()) {
                        fprintf(stderr, "cuda_emu: deadlock in block (%u,%u,%u): threads wait at different barriers\n",
                                bx, by, bz);
                        abort();
                    }
                    if (ran) release();
                }
            }
}

namespace nvcuda {
namespace wmma {
void check_ptr(const void *p, unsigned ldm, size_t elem, const char *what) {
    if ((uintptr_t)p % 32) {
        fprintf(stderr, "cuda_emu: %s: pointer %p is not 32-byte aligned\n", what, p);
        abort();
    }
    if ((ldm * elem) % 16) {
        fprintf(stderr, "cuda_emu: %s: ldm %u is not a multiple of 16 bytes\n", what, ldm);
        abort();
    }
}
} // namespace wmma
} // namespace nvcuda

/* ---------------------------------------------------------------- runtime */

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int) { return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cuda_emu (CPU)");
    p->major = 9, p->multiProcessorCount = 1, p->totalGlobalMem = (size_t)1 << 32;
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = aligned_alloc(256, (bytes + 255) & ~(size_t)255);
    if (!*p) return cudaErrorMemoryAllocation;
    memset(*p, 0xA5, bytes); /* device memory starts as garbage */
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind, cudaStream_t) {
    memcpy(dst, src, n);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
const char *cudaGetErrorName(cudaError_t e) { return e ? "cudaErrorEmulated" : "cudaSuccess"; }
