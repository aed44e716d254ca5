"""One classifier path for the linear probe and fine-tuning: an encoder, a linear layer, one score.

``LinearClassifier`` is the pretrained encoder plus a new linear layer. What differs between
the two protocols of the SimCLR paper is only whether the encoder learns:

* **frozen** (the linear probe): the encoder stays in eval mode without gradients, so an
  unaugmented image always gives the same features; they are computed once and the layer is
  fitted by ``fit_frozen``: L2-regularized multinomial logistic regression by L-BFGS on
  standardized features (the paper's transfer protocol, Appendix B.8, after Kornblith et al.,
  2019). Convex: it stops within a gradient tolerance of the one optimum.
* **not frozen** (fine-tuning, Sec. 6 and Appendix B.5): ``fit_end_to_end`` trains encoder and
  layer together with SGD (Nesterov momentum 0.9, no weight decay, cosine decay) on augmented
  batches. A frozen model given to it trains the layer alone on augmented images.

Both are scored by ``classifier_scores``: top-1 / top-5 from ``core.eval.accuracy.ranked_hits``.
"""
from __future__ import annotations

import math
import warnings
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from torch import Tensor, nn

from core.errors import UserInputError
from core.eval.accuracy import ranked_hits
from core.nn.optim.schedulers import WarmupCosine

FIT_CHUNK = 25   # L-BFGS iterations between two progress updates (the solver keeps its memory across them)
# The probe's stopping rule: the largest entry of the mean objective's gradient. scikit-learn's default is
# 1e-4; at 1e-5 the probe's test top-1 equals that of 1e-7 on 20,000 x 512 correlated features
# (the probe benchmark, bench_probe.py) in a quarter of the iterations (141 vs 593 on 20,000 of them).
PROBE_TOLERANCE = 1e-5


class LinearClassifier(nn.Module):
    """``encoder``, a fixed standardization, then ``nn.Linear``: ``[B, ...] -> [B, classes]``.

    Args:
        encoder: maps a batch to ``[B, features]`` (``nn.Identity()`` when the inputs are features already).
        features: the encoder's output width.
        classes: number of classes.
        frozen: keep the encoder in eval mode with no gradients (its BatchNorm statistics never move).
        mean, std: ``[features]`` standardization applied before the layer (default: none).
    """

    def __init__(self, encoder: nn.Module, features: int, classes: int, frozen: bool,
                 mean: Optional[Tensor] = None, std: Optional[Tensor] = None):
        super().__init__()
        self.encoder, self.frozen, self.fc = encoder, frozen, nn.Linear(features, classes)
        self.register_buffer("mean", torch.zeros(features) if mean is None else mean.detach().clone())
        self.register_buffer("std", torch.ones(features) if std is None else std.detach().clone())
        if frozen:
            self.encoder.requires_grad_(False)
        self.train()

    def train(self, mode: bool = True) -> "LinearClassifier":
        """As ``nn.Module.train``, except that a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def encode(self, x: Tensor) -> Tensor:
        """Standardized features ``[B, features]`` (no gradients through a frozen encoder)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            h = self.encoder(x)
        return (h - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.encode(x))


def feature_stats(feats: Tensor) -> Tuple[Tensor, Tensor]:
    """``(mean, std)`` ``[D]`` of ``[N, D]`` features in float64, for ``LinearClassifier``'s standardization.

    A constant feature gets a spread of 1 (it stays 0 after centering), as in scikit-learn's ``StandardScaler``.
    """
    feats = feats.double()
    std = feats.std(dim=0, unbiased=False)
    std[std == 0] = 1.0
    return feats.mean(dim=0), std


def fit_frozen(model: LinearClassifier, feats: Tensor, labels: Tensor, l2: float = 1.0, maxIter: int = 1000,
               progress: bool = False, tolerance: float = PROBE_TOLERANCE) -> int:
    """Fit ``model.fc`` on encoded features: cross-entropy + ``l2 / 2 * ||W||^2``, full batch, L-BFGS.

    The objective of scikit-learn's ``LogisticRegression(C=1 / l2)`` (the bias is not penalized),
    divided by ``N``; solved in float64 on the features' device (a GPU when they are there) with a
    strong-Wolfe line search until the largest gradient entry is below ``tolerance`` or the loss stops
    changing, at most ``maxIter`` iterations (warns then). The solver keeps its curvature memory
    across the progress chunks: one uninterrupted run.

    Args:
        model: a ``LinearClassifier``; only its ``fc`` changes.
        feats: ``[N, D]`` features of the encoder (before the model's standardization).
        labels: ``[N]`` class indices in ``[0, classes)``.
        tolerance: the gradient tolerance (``PROBE_TOLERANCE``).

    Returns:
        The L-BFGS iterations used.
    """
    from tqdm import tqdm

    device = feats.device
    with torch.no_grad():
        x = (feats.double() - model.mean.to(device, torch.float64)) / model.std.to(device, torch.float64)
    y = labels.long().to(device)
    weight = torch.zeros(model.fc.weight.shape, dtype=torch.float64, device=device, requires_grad=True)  # solved
    bias = torch.zeros(model.fc.bias.shape, dtype=torch.float64, device=device, requires_grad=True)  # in float64
    solver = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=FIT_CHUNK, max_eval=10 * FIT_CHUNK, history_size=20,
                               tolerance_grad=tolerance, tolerance_change=1e-12, line_search_fn="strong_wolfe")
    penalty = l2 / (2 * len(y))

    def closure():
        solver.zero_grad()
        loss = nn.functional.cross_entropy(x @ weight.T + bias, y) + penalty * (weight * weight).sum()
        loss.backward()
        return loss

    done = 0
    with tqdm(total=maxIter, desc="fitting the linear probe", unit="it", disable=not progress, leave=False) as bar:
        while done < maxIter:
            solver.param_groups[0]["max_iter"] = min(FIT_CHUNK, maxIter - done)
            before = solver.state[weight].get("n_iter", 0)
            solver.step(closure)
            used = solver.state[weight].get("n_iter", 0) - before
            done += used
            bar.update(used)
            if used < solver.param_groups[0]["max_iter"]:
                break
    if done >= maxIter:
        warnings.warn(f"the linear probe did not converge in {maxIter} L-BFGS iterations", RuntimeWarning,
                      stacklevel=2)
    with torch.no_grad():
        model.fc.weight.copy_(weight)
        model.fc.bias.copy_(bias)
    return done


def fit_end_to_end(model: LinearClassifier, loader: Iterable[Tuple[Tensor, Tensor]], device: torch.device,
                   epochs: int, lr: float, progress: bool = False, governor=None) -> List[float]:
    """SGD (Nesterov, momentum 0.9, no weight decay) with a cosine decay per step; each epoch's mean loss.

    Trains every parameter that requires a gradient: encoder and layer, or the layer alone when
    ``model.frozen``. ``governor`` (``core.nn.utils.threads.ThreadGovernor``) re-decides the CPU
    threads between steps.

    Raises:
        UserInputError: the loss became NaN or infinite (the learning rate is too high), at once.
    """
    from tqdm import tqdm

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=0.0)
    scheduler = WarmupCosine(optimizer, warmupSteps=0, totalSteps=epochs * len(loader))
    losses = []
    for epoch in tqdm(range(epochs), desc="fine-tuning", unit="epoch", disable=not progress, leave=False):
        model.train()
        running, steps = 0.0, 0
        for images, targets in loader:
            loss = nn.functional.cross_entropy(model(images.to(device)), targets.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if governor is not None:
                governor.update()
            value = float(loss.detach())          # the step's one sync
            if not math.isfinite(value):
                raise UserInputError(f"fine-tuning diverged: the loss is {value} at epoch {epoch + 1}, step "
                                     f"{steps + 1}; lower the learning rate (now {lr:g})")
            running, steps = running + value, steps + 1
        losses.append(running / max(steps, 1))
    return losses


@torch.no_grad()
def classifier_scores(model: nn.Module, batches: Iterable[Tuple[Tensor, Tensor]],
                      device: torch.device = torch.device("cpu")) -> Dict[str, float]:
    """Top-1 / top-5 accuracy of ``model`` (eval mode) over ``(inputs, targets)`` batches."""
    model.eval()
    top1 = top5 = total = 0
    for inputs, targets in batches:
        logits = model(inputs.to(device))
        ranked = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy()
        hits = ranked_hits(ranked, targets.numpy())
        top1, top5, total = top1 + hits["top1"], top5 + hits["top5"], total + len(targets)
    return {"top1": top1 / max(total, 1), "top5": top5 / max(total, 1)}


def linear_probe(trainFeats: Tensor, trainLabels: Tensor, testFeats: Tensor, testLabels: Tensor,
                 maxIter: int = 1000, progress: bool = False, device: Optional[torch.device] = None,
                 tolerance: float = PROBE_TOLERANCE) -> Dict[str, float]:
    """The frozen path on features already extracted: standardize, ``fit_frozen``, score.

    Args:
        trainFeats, trainLabels: ``[N, D]`` features and ``[N]`` labels to fit on (for a few-label
            probe, index them with ``core.eval.subsets.few_labels`` first).
        testFeats, testLabels: ``[M, D]`` and ``[M]`` to score.
        progress: show a tqdm bar while fitting.
        device: where to fit and score (default: where ``trainFeats`` are); a GPU solves a
            60,000-image probe in seconds.
        tolerance: ``fit_frozen``'s gradient tolerance.

    Returns:
        ``{"top1", "top5", "train_size", "iterations"}`` (accuracies in [0, 1]).
    """
    device = trainFeats.device if device is None else device
    feats = trainFeats.to(device, torch.float64)
    mean, std = feature_stats(feats)
    classes, fitLabels = torch.unique(trainLabels.long().cpu(), return_inverse=True)   # the classes it has seen
    testLabels = testLabels.long().cpu()
    lookup = torch.full((int(max(classes.max(), testLabels.max())) + 1,), -1, dtype=torch.long)
    lookup[classes] = torch.arange(len(classes))            # a test class never seen in training never hits
    model = LinearClassifier(nn.Identity(), feats.shape[1], len(classes), frozen=True,
                             mean=mean, std=std).double().to(device)
    iterations = fit_frozen(model, feats, fitLabels.to(device), maxIter=maxIter, progress=progress,
                            tolerance=tolerance)
    scores = classifier_scores(model, [(testFeats.double(), lookup[testLabels])], device)
    return {**scores, "train_size": int(len(trainLabels)), "iterations": iterations}
