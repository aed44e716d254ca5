"""NT-Xent forward+backward: ours vs. a naive broadcast-cosine version vs. lightly's NTXentLoss.

    python benchmarks/bench_loss.py                 # CPU, and CUDA when present
    python benchmarks/bench_loss.py --sizes 256 1024

For each batch size B (D = 128): median time of forward+backward and the peak
extra memory, each measured in a fresh subprocess (CPU: peak RSS growth; CUDA:
``max_memory_allocated``). Also checks that the implementations agree in value.
The naive version computes ``cosine_similarity(z[:, None], z[None], dim=-1)``,
the form many tutorials use, which materializes a [2B, 2B, D] tensor.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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


def measure(name: str, batch: int, device: str) -> dict:
    """Run in a subprocess: time and peak extra memory of one implementation at one size."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    zA = torch.randn(batch, DIM, generator=gen).to(dev).requires_grad_()
    zB = torch.randn(batch, DIM, generator=gen).to(dev).requires_grad_()
    loss = make_loss(name)
    value = loss(zA, zB).item()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def step():
        zA.grad = zB.grad = None
        loss(zA, zB).backward()

    seconds = median_seconds(step, dev, repeats=5 if batch <= 1024 else 3, warmup=1)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"ms": seconds * 1000, "peak_mb": max(peak, 0) / 2 ** 20, "value": value}


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
    parser.add_argument("--child", nargs=3, metavar=("NAME", "B", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.child[2])))
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
                out = subprocess.run([sys.executable, __file__, "--child", name, str(batch), device],
                                     capture_output=True, text=True, cwd=REPO)
                results[name] = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
            ours = results["ours"]
            row = [batch, f"{ours['ms']:.2f}", f"{ours['peak_mb']:.0f}",
                   f"{4 * (2 * batch) ** 2 * 4 / 2 ** 20:.0f}"]
            for name in names[1:]:
                other = results.get(name)
                if other is None:
                    row += ["skipped: would not fit in memory" if name == "naive" else "failed", "", ""]
                else:
                    agree = abs(other["value"] - ours["value"]) < 1e-4 * max(1.0, abs(ours["value"]))
                    row += [f"{other['ms']:.2f}", f"{other['ms'] / ours['ms']:.1f}x",
                            "yes" if agree else f"NO ({other['value']:.5f} vs {ours['value']:.5f})"]
            header = ["B", "ours ms", "ours peak MB", "budget 4(2B)^2*4 MB"]
            for name in names[1:]:
                header += [f"{name} ms", f"{name}/ours", f"{name} agrees"]
            rows.append(row)
        print(table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
