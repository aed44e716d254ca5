"""The linear probe at the size of a real dataset: L-BFGS iterations, time and accuracy on synthetic features.

    python benchmarks/bench_probe.py                          # 60,000 x 512, 10 classes, CPU (and CUDA)
    python benchmarks/bench_probe.py --train 60000 --dim 2048 --devices cuda

The features imitate an encoder's: non-negative (after a ReLU), a class signal buried in noise
so that the classes overlap (test top-1 well below 1), seeded. The probe is the one of
``train/linear_eval.py`` (``core.eval.classifier.linear_probe``) run on each device; the table
says whether it converged to its tolerance, in how many iterations and seconds, and its
top-1 on 10,000 held-out features. scikit-learn's ``LogisticRegression`` (same objective) is
timed beside it with ``--sklearn``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.machine import device_name, versions  # noqa: E402
from benchmarks.timing import sync, table  # noqa: E402
from core.eval.classifier import linear_probe  # noqa: E402


def synthetic_features(count: int, dim: int, classes: int, seed: int):
    """``[count, dim]`` non-negative float32 features and ``[count]`` labels, classes overlapping.

    Like an encoder's features they are correlated (a 64-d latent code mixed into ``dim`` units through
    a matrix with decaying singular values, then a ReLU), which is what makes L-BFGS slow on them.
    """
    fixed = torch.Generator().manual_seed(1234)
    latent = 64
    centers = torch.randn(classes, latent, generator=fixed) * 0.6
    mixing = torch.randn(latent, dim, generator=fixed) * torch.logspace(0, -2, latent).unsqueeze(1)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (count,), generator=gen)
    code = centers[labels] + torch.randn(count, latent, generator=gen)
    feats = torch.relu(code @ mixing + 0.05 * torch.randn(count, dim, generator=gen))
    return feats, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--sklearn", action="store_true", help="also time scikit-learn's LogisticRegression")
    args = parser.parse_args()
    trainFeats, trainLabels = synthetic_features(args.train, args.dim, args.classes, seed=0)
    testFeats, testLabels = synthetic_features(args.test, args.dim, args.classes, seed=1)
    print(f"# linear probe, synthetic features: {args.train} train / {args.test} test x {args.dim}, "
          f"{args.classes} classes | {versions()}")
    rows = []
    for name in args.devices:
        device = torch.device(name)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sync(device)
            start = time.perf_counter()
            result = linear_probe(trainFeats.to(device), trainLabels.to(device), testFeats.to(device),
                                  testLabels.to(device))
            sync(device)
            seconds = time.perf_counter() - start
        converged = not any("did not converge" in str(w.message) for w in caught)
        rows.append([f"{name}: {device_name(device)}", result["iterations"], "yes" if converged else "NO",
                     f"{seconds:.1f}", f"{result['top1']:.4f}"])
    if args.sklearn:
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(trainFeats.double().numpy())
        standardized = scaler.transform(trainFeats.double().numpy())
        start = time.perf_counter()
        clf = LogisticRegression(C=1.0, max_iter=5000).fit(standardized, trainLabels.numpy())
        seconds = time.perf_counter() - start
        top1 = float(np.mean(clf.predict(scaler.transform(testFeats.double().numpy())) == testLabels.numpy()))
        rows.append(["scikit-learn lbfgs (CPU)", int(clf.n_iter_[0]), "yes", f"{seconds:.1f}", f"{top1:.4f}"])
    print(table(["probe on", "L-BFGS iterations", "converged", "seconds", "test top-1"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
