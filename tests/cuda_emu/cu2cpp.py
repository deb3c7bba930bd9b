#!/usr/bin/env python3
"""cu2cpp.py — rewrites a CUDA source into C++ for tests/cuda_emu (CPU emulation).

    cu2cpp.py IN.cu OUT.cpp

__global__/__device__/__launch_bounds__ go, cuda_ptx.cuh becomes ptx_emu.h, __shared__ becomes static (blocks
run one at a time), extern __shared__ arrays point into the launch's dynamic
shared memory, CUDA headers become cuda_emu.h, and every launch
    kernel<T><<<grid, block, smem, stream>>>(args);
becomes
    g2r_emu_launch(dim3(grid), dim3(block), (size_t)(smem), [&] { kernel<T>(args); });
Run by `make cuda-emu-test` only; the real build never sees its output.
"""
import re
import sys


def split_top(s):
    """Splits s at commas outside parentheses and angle brackets of templates."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def launch(m):
    name, cfg, args = m.group(1), m.group(2), m.group(3)
    c = split_top(cfg)
    while len(c) < 3:
        c.append("0")
    return "g2r_emu_launch(dim3(%s), dim3(%s), (size_t)(%s), [&] { %s(%s); });" % (c[0], c[1], c[2], name, args)


def convert(src):
    src = re.sub(r"#include <(cuda_bf16|cuda_fp16|cuda_runtime|mma)\.h>", "", src)
    src = src.replace('#include "kernels/cuda/cuda_ptx.cuh"', '#include "tests/cuda_emu/ptx_emu.h"')
    src = src.replace('#include "kernels/cuda/cuda_common.cuh"',
                      '#include "tests/cuda_emu/cuda_emu.h"\n#include "kernels/cuda/cuda_common.cuh"')
    src = re.sub(r"extern __shared__ (?:__align__\(\d+\) )?(\w+) (\w+)\[\];",
                 r"\1 *\2 = (\1 *)g2r_emu_dyn_smem;", src)
    src = re.sub(r"__launch_bounds__\([^)]*\)", "", src)
    src = re.sub(r"__align__\((\d+)\)", r"__attribute__((aligned(\1)))", src)
    src = src.replace("__global__", "").replace("__forceinline__", "inline").replace("__noinline__", "").replace("__device__", "")
    src = src.replace("__shared__", "static")
    src = re.sub(r"([A-Za-z_]\w*(?:<[^<>;]*>)?)<<<(.*?)>>>\((.*?)\);", launch, src, flags=re.S)
    return src


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        out = convert(f.read())
    if "<<<" in out:
        sys.exit("cu2cpp: a launch was not rewritten in %s" % sys.argv[1])
    with open(sys.argv[2], "w") as f:
        f.write("// generated from %s by tests/cuda_emu/cu2cpp.py: do not edit\n" % sys.argv[1])
        f.write(out)


if __name__ == "__main__":
    main()
