"""Linear probe: logistic regression on frozen, standardized features.

The standard test of a self-supervised representation (paper Sec. 4, "linear
evaluation protocol"): the encoder is frozen, and only a linear classifier is
trained on its features. scikit-learn's L-BFGS logistic regression is used
here: exact, deterministic and fast for the feature sizes of this tutorial.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
from torch import Tensor


def few_labels(labels: np.ndarray, perClass: int, seed: int = 0) -> np.ndarray:
    """Indices of ``perClass`` random examples of each class (all of a class if it has fewer)."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:perClass] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def linear_probe(trainFeats: Tensor, trainLabels: Tensor, testFeats: Tensor, testLabels: Tensor,
                 labelsPerClass: Optional[int] = None, maxIter: int = 1000, seed: int = 0) -> Dict[str, float]:
    """Fit logistic regression on standardized ``trainFeats``; top-1/top-5 on ``testFeats``.

    Args:
        trainFeats, trainLabels: ``[N, D]`` features and ``[N]`` labels to fit on.
        testFeats, testLabels: ``[M, D]`` and ``[M]`` to score.
        labelsPerClass: keep only this many labeled training examples per class (few-label mode).

    Returns:
        ``{"top1", "top5", "train_size"}`` (accuracies in [0, 1]).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    xTrain, yTrain = trainFeats.double().numpy(), trainLabels.numpy()
    xTest, yTest = testFeats.double().numpy(), testLabels.numpy()
    if labelsPerClass:
        keep = few_labels(yTrain, labelsPerClass, seed)
        xTrain, yTrain = xTrain[keep], yTrain[keep]
    scaler = StandardScaler().fit(xTrain)
    clf = LogisticRegression(max_iter=maxIter, random_state=seed)
    clf.fit(scaler.transform(xTrain), yTrain)
    proba = clf.predict_proba(scaler.transform(xTest))
    ranked = clf.classes_[np.argsort(-proba, axis=1)]
    top1 = float((ranked[:, 0] == yTest).mean())
    top5 = float((ranked[:, :5] == yTest[:, None]).any(axis=1).mean())
    return {"top1": top1, "top5": top5, "train_size": int(len(yTrain))}
