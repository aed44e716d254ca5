"""Linear probe: logistic regression on frozen, standardized features.

The standard test of a self-supervised representation (paper Sec. 4, "linear
evaluation protocol"): the encoder is frozen, and only a linear classifier is
trained on its features. scikit-learn's L-BFGS logistic regression is used
here: deterministic, and fast for the feature sizes of this tutorial (an
iterative fit to a tolerance, not a closed form).
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from torch import Tensor

from core.eval.accuracy import ranked_hits


FIT_CHUNK = 25  # L-BFGS iterations between two progress updates


def fit_logistic(x: np.ndarray, y: np.ndarray, maxIter: int = 1000, seed: int = 0, progress: bool = False):
    """Multinomial logistic regression (L-BFGS), fitted in chunks of ``FIT_CHUNK`` iterations with a tqdm bar.

    Each chunk starts from the previous one's solution (``warm_start``) and the fit stops when a
    chunk converges before its last iteration. Restarting L-BFGS drops its curvature memory, so
    the path differs from one uninterrupted call; both stop within the solver's tolerance of the
    same convex optimum, not at bit-identical weights. Warns once if ``maxIter`` is reached.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from tqdm import tqdm

    clf = LogisticRegression(max_iter=FIT_CHUNK, warm_start=True, random_state=seed)
    done = 0
    with tqdm(total=maxIter, desc="fitting the linear probe", unit="it", disable=not progress, leave=False) as bar:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            while done < maxIter:
                clf.max_iter = min(FIT_CHUNK, maxIter - done)
                clf.fit(x, y)
                used = int(np.max(clf.n_iter_))
                done += used
                bar.update(used)
                if used < clf.max_iter:
                    break
    if done >= maxIter:
        warnings.warn(f"the linear probe did not converge in {maxIter} L-BFGS iterations", ConvergenceWarning,
                      stacklevel=2)
    return clf


def linear_probe(trainFeats: Tensor, trainLabels: Tensor, testFeats: Tensor, testLabels: Tensor,
                 maxIter: int = 1000, seed: int = 0, progress: bool = False) -> Dict[str, float]:
    """Fit logistic regression on standardized ``trainFeats``; top-1/top-5 on ``testFeats``.

    Args:
        trainFeats, trainLabels: ``[N, D]`` features and ``[N]`` labels to fit on (for a few-label
            probe, index them with ``core.eval.subsets.few_labels`` first).
        testFeats, testLabels: ``[M, D]`` and ``[M]`` to score.
        progress: show a tqdm bar while fitting.

    Returns:
        ``{"top1", "top5", "train_size"}`` (accuracies in [0, 1]).
    """
    from sklearn.preprocessing import StandardScaler

    xTrain, yTrain = trainFeats.double().numpy(), trainLabels.numpy()
    xTest, yTest = testFeats.double().numpy(), testLabels.numpy()
    scaler = StandardScaler().fit(xTrain)
    clf = fit_logistic(scaler.transform(xTrain), yTrain, maxIter, seed, progress)
    proba = clf.predict_proba(scaler.transform(xTest))
    hits = ranked_hits(clf.classes_[np.argsort(-proba, axis=1)], yTest)
    return {"top1": hits["top1"] / len(yTest), "top5": hits["top5"] / len(yTest), "train_size": int(len(yTrain))}
