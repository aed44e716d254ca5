"""NT-Xent forward+backward: ours vs. a naive broadcast-cosine version vs. lightly's NTXentLoss.

    python benchmarks/bench_loss.py                 # CPU, and CUDA when present
    python benchmarks/bench_loss.py --sizes 256 1024

For each batch size B (D = 128): median time of forward+backward and the peak
extra memory, each measured in a fresh subprocess (``--in-process``: all in this
one, as the GPU check does, where a CUDA start per measurement costs seconds). Peak memory is what PyTorch's
allocator holds above the inputs at the worst moment of one step (CUDA:
``max_memory_allocated``; CPU: the running sum of the profiler's allocation
events, the same quantity); on CPU the growth of the process's peak resident
set is printed beside it, which also counts the C allocator's and threads' own
pages. Also checks that the implementations agree in value.
The naive version computes ``cosine_similarity(z[:, None], z[None], dim=-1)``,
the form many tutorials use, which materializes a [2B, 2B, D] tensor.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.machine import device_name, versions  # noqa: E402
from benchmarks.timing import median_seconds, table  # noqa: E402
from core.nn.loss import NTXent  # noqa: E402

DIM = 128
TEMPERATURE = 0.5


def naive_nt_xent(zA, zB, temperature=TEMPERATURE):
    """Broadcast cosine similarity, as in many tutorials: O((2B)^2 D) memory."""
    z = torch.cat([zA, zB])
    n, batch = z.shape[0], zA.shape[0]
    sim = F.cosine_similarity(z[:, None, :], z[None, :, :], dim=-1) / temperature   # [2B, 2B] via [2B, 2B, D]
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.arange(n, device=z.device).roll(batch)
    return F.cross_entropy(sim, targets)


def make_loss(name):
    if name == "ours":
        return NTXent(TEMPERATURE)
    if name == "naive":
        return naive_nt_xent
    from lightly.loss import NTXentLoss  # optional: pip install -r benchmarks/requirements.txt

    return NTXentLoss(temperature=TEMPERATURE)


def lightly_available() -> bool:
    try:
        import lightly.loss  # noqa: F401
        return True
    except ImportError:
        return False


def read_status_kb(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset the peak resident set to the current one (Linux clear_refs); returns it in bytes."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return read_status_kb("VmRSS") * 1024


def cpu_allocator_peak(step) -> int:
    """Peak bytes PyTorch's CPU allocator holds during ``step()``, above what it held before.

    The profiler records every CPU allocation and free with its size; their
    running sum in time order is the allocator's live bytes, as CUDA's
    ``memory_allocated`` counts them.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU)
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def measure(name: str, batch: int, device: str, what: str) -> dict:
    """Run in a subprocess: the time, or the peak extra memory, of one implementation at one size.

    CPU memory: the allocator's peak (see ``cpu_allocator_peak``), and the
    growth of the process's peak resident set (VmHWM, reset just before) during
    one forward+backward, in a child started with a fixed glibc mmap threshold
    so that freed tensors really leave the resident set.
    """
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    zA = torch.randn(batch, DIM, generator=gen).to(dev).requires_grad_()
    zB = torch.randn(batch, DIM, generator=gen).to(dev).requires_grad_()
    loss = make_loss(name)
    small = torch.randn(2, DIM, device=dev, requires_grad=True)
    loss(small, small * 2).backward()  # load kernels and thread pools before the baseline

    def step():
        zA.grad = zB.grad = None
        out = loss(zA, zB)
        out.backward()
        return out

    if what == "memory":
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            value = step().item()
            return {"peak_mb": (torch.cuda.max_memory_allocated() - base) / 2 ** 20, "value": value}
        base = reset_peak_rss()
        value = step().item()
        rss = read_status_kb("VmHWM") * 1024 - base
        return {"peak_mb": cpu_allocator_peak(step) / 2 ** 20, "rss_mb": max(rss, 0) / 2 ** 20, "value": value}
    seconds = median_seconds(step, dev, repeats=5 if batch <= 1024 else 3, warmup=1)
    return {"ms": seconds * 1000}


def child(name: str, batch: int, device: str, what: str) -> dict:
    env = dict(os.environ)
    if what == "memory":
        env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 20)
    out = subprocess.run([sys.executable, __file__, "--child", name, str(batch), device, what],
                         capture_output=True, text=True, cwd=REPO, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None


def naive_fits(batch: int, device: str) -> bool:
    need = 4 * (2 * batch) ** 2 * DIM * 4  # the [2B, 2B, D] tensor, its grad and temporaries
    if device == "cpu":
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    else:
        avail = torch.cuda.mem_get_info()[0]
    return need < 0.6 * avail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--in-process", action="store_true",
                        help="measure in this process (fast: no start-up per measurement; memory less isolated)")
    parser.add_argument("--child", nargs=4, metavar=("NAME", "B", "DEVICE", "WHAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.child[2], args.child[3])))
        return 0
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    names = ["ours", "naive"] + (["lightly"] if lightly_available() else [])
    print(f"# NT-Xent forward+backward, D={DIM}, t={TEMPERATURE} | {versions()}")
    if "lightly" not in names:
        print("# lightly not installed (pip install -r benchmarks/requirements.txt): its column is absent")
    for device in devices:
        dev = torch.device(device)
        print(f"\n## {device}: {device_name(dev)}  (median of repeats after warm-up; memory = peak extra)")
        rows = []
        for batch in args.sizes:
            results = {}
            for name in names:
                if name == "naive" and not naive_fits(batch, device):
                    results[name] = None
                    continue
                measured = measure if args.in_process else child
                timed, memory = measured(name, batch, device, "time"), measured(name, batch, device, "memory")
                results[name] = None if timed is None or memory is None else {**timed, **memory}
            ours = results["ours"]
            budget = 4 * (2 * batch) ** 2 * 4 / 2 ** 20
            rss = [f"{ours['rss_mb']:.1f}"] if "rss_mb" in ours else []
            row = [batch, f"{ours['ms']:.2f}", f"{ours['peak_mb']:.1f}", *rss, f"{budget:.0f}",
                   "yes" if ours["peak_mb"] <= budget else "no"]
            for name in names[1:]:
                other = results.get(name)
                if other is None:
                    row += ["skipped: would not fit in memory" if name == "naive" else "failed", "", "", ""]
                else:
                    agree = abs(other["value"] - ours["value"]) < 1e-4 * max(1.0, abs(ours["value"]))
                    ratio = (f"{other['ms'] / ours['ms']:.0f}x" if name == "naive"
                             else f"{ours['ms'] / other['ms']:.2f}x")
                    row += [f"{other['ms']:.2f}", f"{other['peak_mb']:.1f}", ratio,
                            "yes" if agree else f"NO ({other['value']:.5f} vs {ours['value']:.5f})"]
            header = ["B", "ours ms", "ours peak MB", *(["ours RSS growth MB"] if rss else []),
                      "budget 4(2B)^2*4 MB", "within budget"]
            for name in names[1:]:
                ratioName = "naive/ours time" if name == "naive" else f"ours/{name} time"
                header += [f"{name} ms", f"{name} peak MB", ratioName, f"{name} agrees"]
            rows.append(row)
        print(table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
