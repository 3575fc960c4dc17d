"""`make bench`: from-scratch bidirectional GRUs against nn.GRU, forward and forward+backward.

Implementations (same weights, single-layer BiGRU, float32, CPU, 2 threads):
- ``naive``: ``birnn_utils.recurrent.scratch_forward`` -- the scratch cells, autograd per op;
- ``fast``: ``birnn_utils.fast.FastBiGRU`` -- hand-written BPTT in one autograd.Function,
  with the compiled layer of ``birnn_utils.fast_ext`` (built here first, once, cached; its
  build time is printed and kept out of every timing) or, where no build is possible, the
  pure-PyTorch kernels;
- ``pure``: ``FastBiGRU`` with its pure-PyTorch kernels;
- ``nn.GRU``: PyTorch's own module (the reference, ratio 1).
Plus an ablation at the main size that removes one idea at a time from the final version,
compiled and pure (``birnn_utils.ablation``), and the plainer hand-written baselines.

Timings use ``birnn_utils.benchmarking.time_interleaved`` (wall clock, threads set): the
implementations are interleaved within each repetition and every ratio is the median of
per-repetition ratios, so a slow phase of a shared machine hits all of them alike.
Prints a table, writes ``_build/bench.json``; the last line is
``scratch_vs_nn_gru_ratio=X.XX``: fast / nn.GRU, forward+backward, T=100, B=32, I=16, H=64.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from birnn_utils import ablation, fast, fast_ext
from birnn_utils.benchmarking import bigru_matmul_flops, time_interleaved
from birnn_utils.fast import BulkLoopBiGRU, FastBiGRU, LoopBiGRU
from birnn_utils.recurrent import scratch_forward

THREADS = 2
INPUT = 16
MAIN = {"T": 100, "B": 32, "I": INPUT, "H": 64}
GRID = [{"T": t, "B": b, "I": INPUT, "H": h} for t in (50, 200) for b in (1, 32) for h in (32, 128)]
BUILD = Path(__file__).resolve().parent.parent / "_build"


def matmul_peak_gflops(reps):
    """Measured float32 GEMM throughput (2048 x 2048) at THREADS threads, GFLOP/s."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds = time_interleaved({"mm": lambda: a @ b}, reps, THREADS, target_s=0.1)[0]["mm"]
    return 2 * 2048**3 / seconds / 1e9


def make_models(size, seed=0):
    torch.manual_seed(seed)
    gru = nn.GRU(size["I"], size["H"], bidirectional=True)
    return gru, {
        "nn.GRU": gru,
        "fast": FastBiGRU.from_gru(gru),
        "pure": ablation.make(gru, fast.Kernels),
    }


def step_function(run, model, x, backward):
    """A zero-argument callable: one forward (no grad), or one forward+backward."""
    if backward:

        def step():
            output, h_n = run(model, x)
            (output.sum() + h_n.sum()).backward()
            model.zero_grad(set_to_none=True)

    else:

        def step():
            with torch.no_grad():
                run(model, x)

    return step


def call_module(model, x):
    return model(x)


def call_naive(model, x):
    return scratch_forward(model, x)


def interleaved(steps, reps):
    return time_interleaved(steps, reps, threads=THREADS)


def bench_size(size, reps, with_naive=True):
    """Rows (one per implementation and mode) for one size."""
    gru, models = make_models(size)
    runs = {name: (call_module, model) for name, model in models.items()}
    if with_naive:
        runs["naive"] = (call_naive, gru)
    x = torch.randn(size["T"], size["B"], size["I"])
    rows = []
    for backward in (False, True):
        steps = {name: step_function(run, m, x, backward) for name, (run, m) in runs.items()}
        times, ratios = interleaved(steps, reps)
        flops = bigru_matmul_flops(size["T"], size["B"], size["I"], size["H"], backward)
        for name in steps:
            rows.append(
                {
                    **size,
                    "mode": "fwd+bwd" if backward else "fwd",
                    "impl": name,
                    "ms": 1e3 * times[name],
                    "ratio_vs_nn_gru": ratios[name],
                    "gflops": flops / times[name] / 1e9,
                }
            )
    return rows


def ablation_rows(reps):
    """Forward+backward at the main size: the final version with one idea removed per row
    (the compiled ladder, then the pure-PyTorch one), and the plainer baselines."""
    gru, _ = make_models(MAIN)
    x = torch.randn(MAIN["T"], MAIN["B"], MAIN["I"])
    ladder = {"nn.GRU": (call_module, gru)}
    compiled = ablation.compiled_variants()  # ends with pure PyTorch; empty without a build
    for name, kernels in compiled.items():
        ladder[name] = (call_module, ablation.make(gru, kernels))
    if not compiled:  # no compiled layer: the pure version leads
        ladder[f"FastBiGRU ({fast.Kernels.name})"] = (call_module, ablation.make(gru, fast.Kernels))
    for name, kernels in ablation.VARIANTS.items():
        ladder[name + " (pure)"] = (call_module, ablation.make(gru, kernels))
    ladder["baseline: BulkLoopBiGRU"] = (call_module, BulkLoopBiGRU.from_gru(gru))
    ladder["baseline: LoopBiGRU"] = (call_module, LoopBiGRU.from_gru(gru))
    ladder["baseline: autograd per op (scratch_forward)"] = (call_naive, gru)
    steps = {name: step_function(run, m, x, True) for name, (run, m) in ladder.items()}
    times, ratios = interleaved(steps, reps)
    return [{"version": k, "ms": 1e3 * times[k], "ratio_vs_nn_gru": ratios[k]} for k in steps]


def cuda_comparison(reps):
    """On a GPU: FastBiGRU (same code on CUDA tensors) against cuDNN's nn.GRU, fwd+bwd."""
    if not torch.cuda.is_available():
        return None
    torch.manual_seed(0)
    gru = nn.GRU(MAIN["I"], MAIN["H"], bidirectional=True).cuda()
    fast = FastBiGRU.from_gru(gru)
    x = torch.randn(MAIN["T"], MAIN["B"], MAIN["I"], device="cuda")

    def synced(model):
        step = step_function(call_module, model, x, True)

        def run():
            step()
            torch.cuda.synchronize()

        return run

    times, ratios = interleaved({"cuDNN nn.GRU": synced(gru), "fast": synced(fast)}, reps)
    return {"device": torch.cuda.get_device_name(), "ms": times, "ratio_fast_vs_cudnn": ratios}


def print_table(rows, peak):
    head = f"{'T':>4} {'B':>3} {'H':>4} {'mode':<8} {'impl':<7} {'ms':>9} {'ratio':>6}"
    print(head + f" {'GFLOP/s':>8} {'of peak':>8}")
    for row in rows:
        print(
            f"{row['T']:>4} {row['B']:>3} {row['H']:>4} {row['mode']:<8} {row['impl']:<7} "
            f"{row['ms']:>9.3f} {row['ratio_vs_nn_gru']:>6.2f} {row['gflops']:>8.2f} "
            f"{row['gflops'] / peak:>8.1%}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, main size only")
    args = parser.parse_args(argv)
    reps = 3 if args.quick else 7
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)

    start = time.perf_counter()
    built = fast_ext.load(build=True)
    ext = fast_ext.status()
    build_s = ext["build_s"]
    peak = matmul_peak_gflops(reps=2 if args.quick else 4)
    print(f"torch {torch.__version__}, {THREADS} threads, float32")
    if built:
        how = f"built in {build_s:.1f} s" if build_s else "already built, loaded"
        print(f"compiled layer: {how} ({time.perf_counter() - start:.1f} s, not timed below)")
    else:
        print(f"compiled layer unavailable ({ext['reason']}): 'fast' is the pure path")
    print(f"measured matmul peak (2048x2048 sgemm): {peak:.1f} GFLOP/s")
    print("ratio = median over repetitions of (time / nn.GRU's time in the same repetition)\n")

    main_rows = bench_size(MAIN, reps=3 * reps)
    grid_rows = [] if args.quick else [row for size in GRID for row in bench_size(size, reps)]
    print_table(main_rows + grid_rows, peak)

    abl = ablation_rows(reps=3 * reps)
    print("\nAblation, main size, forward+backward: the final version, then one idea removed")
    print("per row (from the compiled, then from the pure-PyTorch version), then baselines:")
    for row in abl:
        print(f"  {row['version']:<52} {row['ms']:>8.3f} ms  {row['ratio_vs_nn_gru']:>5.2f}")

    cuda = cuda_comparison(reps)
    if cuda is not None:
        ratio_gpu = cuda["ratio_fast_vs_cudnn"]["fast"]
        print(f"\nGPU {cuda['device']}: fast / cuDNN nn.GRU, fwd+bwd = {ratio_gpu:.2f}")
    else:
        print("\nGPU: none here; FastBiGRU against cuDNN is untested")

    summary = summarize(main_rows, grid_rows, peak)
    for line in summary["lines"]:
        print(line)

    BUILD.mkdir(exist_ok=True)
    result = {
        "torch": torch.__version__,
        "threads": THREADS,
        "quick": args.quick,
        "matmul_peak_gflops": peak,
        "compiled": {"loaded": built, "reason": ext["reason"], "build_s": build_s},
        "main_size": MAIN,
        "rows": [{**r, "peak_fraction": r["gflops"] / peak} for r in main_rows + grid_rows],
        "ablation": abl,
        "summary": {k: v for k, v in summary.items() if k != "lines"},
        "cuda": cuda,
        "scratch_vs_nn_gru_ratio": summary["main_fwd_bwd"],
    }
    (BUILD / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {BUILD / 'bench.json'}")
    print(f"scratch_vs_nn_gru_ratio={summary['main_fwd_bwd']:.2f}")
    return 0


def summarize(main_rows, grid_rows, peak):
    """The numbers issue 20 asks for: fast / nn.GRU per size and mode, worst cases, peak."""

    def fast_rows(mode):
        return [r for r in main_rows + grid_rows if r["impl"] == "fast" and r["mode"] == mode]

    def label(r):
        return f"T={r['T']} B={r['B']} H={r['H']}"

    fwd, both = fast_rows("fwd"), fast_rows("fwd+bwd")
    main_both = both[0]["ratio_vs_nn_gru"]
    worst_fwd = max(fwd, key=lambda r: r["ratio_vs_nn_gru"])
    worst_both = max(both, key=lambda r: r["ratio_vs_nn_gru"])
    largest = max(both, key=lambda r: r["T"] * r["B"] * r["H"])
    lines = [
        "\nfast / nn.GRU, forward alone: "
        + "; ".join(f"{label(r)}: {r['ratio_vs_nn_gru']:.2f}" for r in fwd),
        "fast / nn.GRU, forward+backward: "
        + "; ".join(f"{label(r)}: {r['ratio_vs_nn_gru']:.2f}" for r in both),
        f"worst forward: {worst_fwd['ratio_vs_nn_gru']:.2f} at {label(worst_fwd)}; "
        f"worst forward+backward: {worst_both['ratio_vs_nn_gru']:.2f} at {label(worst_both)}",
        f"peak fraction, forward+backward at the largest size ({label(largest)}): "
        f"{largest['gflops'] / peak:.1%}",
    ]
    return {
        "lines": lines,
        "main_fwd_bwd": main_both,
        "worst_fwd": worst_fwd["ratio_vs_nn_gru"],
        "worst_fwd_bwd": worst_both["ratio_vs_nn_gru"],
        "largest_peak_fraction": largest["gflops"] / peak,
    }


if __name__ == "__main__":
    sys.exit(main())
