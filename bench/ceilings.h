/* ceilings.h — what this machine can do at best, measured by small probes.
 *
 * The benchmark prints every figure beside these, as a fraction of them:
 * compute-bound work (prefill) against the FMA ceiling, bandwidth-bound work
 * (batch-1 decode reads every weight once per token) against the read ceiling. */
#ifndef G2R_BENCH_CEILINGS_H
#define G2R_BENCH_CEILINGS_H

/* Peak float32 FMA throughput in GFLOP/s (2 flops per lane per FMA) with
 * n_threads threads, using the widest FMA this CPU has; *isa gets its name. */
double g2r_ceiling_fma_gflops(int n_threads, double seconds, const char **isa);

/* Streaming read bandwidth in GB/s with n_threads threads over a buffer of
 * mib MiB (make it much larger than the last-level cache); -1 if it cannot
 * allocate the buffer. */
double g2r_ceiling_read_gbs(int n_threads, int mib, double seconds);

/* Decode-order reads in GB/s: the weight matrices of the model at path, the
 * bytes a batch-1 decode step streams, in its order and split (per layer the
 * QKV, projection, MLP and MLP projection matrices, then wte; each in
 * n_threads contiguous parts, one per thread, one pool run per matrix), read
 * with no arithmetic.  Beside the read ceiling it tells how much of a gap is
 * the access pattern (short per-matrix runs, a barrier after each) and how
 * much the kernels.  -1 if the file cannot be loaded. */
double g2r_ceiling_decode_reads_gbs(const char *path, int n_threads, double seconds);

#endif
