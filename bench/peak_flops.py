"""Measure this machine's matmul peak (GFLOP/s), the denominator of MFU.

python bench/peak_flops.py [--threads N] [--dtype float32|bfloat16] [--sizes 1024 2048 3072] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

SIZES = (1024, 2048, 3072)  # square matmuls: large enough to reach the peak, small enough to be quick


def matmul_gflops(size: int, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best-of-`repeats` GFLOP/s of one size x size matmul."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm up the kernels
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def peak_gflops(
    threads: int | None = None, dtype: torch.dtype = torch.float32, sizes: tuple[int, ...] = SIZES
) -> float:
    """The best matmul throughput over a few sizes: the peak that MFU is measured against."""
    if threads:
        torch.set_num_threads(threads)
    return max(matmul_gflops(size, dtype=dtype) for size in sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="square matmul sizes tried")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    peak = peak_gflops(args.threads, getattr(torch, args.dtype), tuple(args.sizes))
    result = {"threads": torch.get_num_threads(), "dtype": args.dtype, "peak_gflops": round(peak, 1)}
    print(
        json.dumps(result)
        if args.json
        else f"{args.dtype} matmul peak: {peak:.1f} GFLOP/s on {result['threads']} threads"
    )


if __name__ == "__main__":
    main()
