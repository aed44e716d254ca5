"""Evaluation of representations: features of a dataset (``features``), weighted kNN (``knn``), top-k scores
(``accuracy``), the linear classifier of the probe and of fine-tuning (``classifier``), positive-pair accuracy
within a batch (``positive_pairs``), seeded class-stratified subsets (``subsets``) and t-SNE figures
(``tsne_figure``)."""
from core.eval.features import extract_features
from core.eval.knn import knn_predict, knn_top1

__all__ = ["extract_features", "knn_predict", "knn_top1"]
