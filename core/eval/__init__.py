"""Evaluation of representations: feature extraction, kNN, t-SNE."""
from core.eval.features import extract_features
from core.eval.knn import knn_predict, knn_top1

__all__ = ["extract_features", "knn_predict", "knn_top1"]
