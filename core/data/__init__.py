"""Data: the SimCLR augmentation (Task 1) and the dataset factory."""
from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, ImageTransforms

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "EvalTransform", "ImageTransforms"]
