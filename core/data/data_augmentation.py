"""Task 1: the SimCLR data augmentation, one image in, two random views out.

Paper: Chen et al., ICML 2020, Sec. 3 and Appendix A ("Data Augmentation
Details", page 12). Each view is drawn independently from the same recipe:

1. random resized crop (area 8%-100%, aspect 3/4-4/3) resized to ``imgSize``;
2. horizontal flip with p = 0.5;
3. color jitter with strength s: brightness, contrast, saturation 0.8 s and
   hue 0.2 s, applied with p = 0.8;
4. grayscale with p = 0.2;
5. Gaussian blur (kernel 10% of the image side, sigma in [0.1, 2.0]) with
   p = 0.5 -- used for ImageNet-size images only; on 32-px CIFAR the paper
   leaves it out (Appendix B.9), so it is off by default below 64 px;
6. to a float tensor in [0, 1], then ImageNet mean/std normalization.

Input: an RGB PIL image or an RGB ``H x W x C`` uint8 numpy array (convert an
OpenCV image first: ``cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)``).
Grayscale or RGBA input is converted to 3 channels.
Output: two ``float32`` tensors ``[3, imgSize, imgSize]``.

Two backends give the same recipe: ``'torchvision'`` (transforms on PIL
images) and ``'albumentations'`` (OpenCV on numpy arrays); the tutorial asks for
either one. Both draw their randomness from ``torch``'s generator, so
``torch.manual_seed`` makes them reproducible and each DataLoader worker gets its
own stream. ``'auto'`` (the default) picks albumentations, 1.5-4x faster on a small
CPU, and falls back to torchvision when
albumentations is missing or its view is not written.

``imgSize`` is an int (square views) or an ``(H, W)`` pair; each view's
pipeline receives it as an ``(H, W)`` pair.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import random

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2

# ImageNet statistics (per RGB channel, for pixel values in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKENDS = ("auto", "torchvision", "albumentations")
BLUR_MIN_SIZE = 64  # blur is on by default from this image size up
PCG_INC = 0xDA3E39CB94B95BDB  # any odd constant: the stream of the albumentations generator

ImageLike = Union[Image.Image, np.ndarray]


def to_rgb_array(image: ImageLike) -> np.ndarray:
    """Return ``image`` as a contiguous ``[H, W, 3]`` uint8 RGB array.

    Raises:
        TypeError: not a PIL image or numpy array.
        ValueError: an array of a shape or dtype that is not an 8-bit image.
    """
    if isinstance(image, Image.Image):
        return np.array(image if image.mode == "RGB" else image.convert("RGB"))  # writable copy
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H x W x C image with C in (1, 3, 4), got shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def to_rgb_pil(image: ImageLike) -> Image.Image:
    """Return ``image`` as an RGB PIL image (no copy when it already is one)."""
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return image
    return Image.fromarray(to_rgb_array(image))


def to_rgb_tensor(image: ImageLike) -> Tensor:
    """Return ``image`` as a ``[3, H, W]`` uint8 tensor (shares memory when it can)."""
    return torch.from_numpy(to_rgb_array(image)).permute(2, 0, 1)


def image_size(imgSize: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``imgSize`` (an int, or an ``(H, W)`` pair as the original repository passes it) -> ``(H, W)``.

    Raises:
        ValueError: not a positive int or a pair of positive ints.
    """
    pair = (imgSize, imgSize) if isinstance(imgSize, (int, np.integer)) else imgSize
    try:
        height, width = pair
        ok = all(not isinstance(v, bool) and int(v) == v and v >= 1 for v in (height, width))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"imgSize={imgSize!r} must be a positive integer or an (H, W) pair of them")
    return int(height), int(width)


def blur_kernel_size(imgSize: Union[int, Sequence[int]]) -> int:
    """Odd kernel side of about 10% of the (shorter) image side (paper, Appendix A)."""
    return max(3, int(0.1 * min(image_size(imgSize))) // 2 * 2 + 1)


def check_recipe(imgSize: Union[int, Sequence[int]], jitterStrength: float, minScale: float) -> None:
    """Raise ``ValueError`` naming the first recipe argument out of its range."""
    image_size(imgSize)
    if not 0 <= float(jitterStrength) <= 2:
        raise ValueError(f"jitterStrength={jitterStrength!r} must be in [0, 2]")
    if not 0 < float(minScale) <= 1:
        raise ValueError(f"minScale={minScale!r} must be in (0, 1]")


class ImageTransforms:
    """Callable producing two independently augmented views of one image.

    Args:
        imgSize: side of the square output views in pixels, or their ``(H, W)``.
        backend: ``'auto'``, ``'torchvision'`` or ``'albumentations'``.
        jitterStrength: color distortion strength s (1.0 for ImageNet, 0.5 for
            CIFAR-10 in the paper, Appendix B.9).
        minScale: smallest crop area, as a fraction of the image (0.08).
        blur: Gaussian blur on/off; ``None`` turns it on from 64 px (shorter side).

    Example:
        >>> augModule = ImageTransforms(32)
        >>> view1, view2 = augModule(image)   # each [3, 32, 32], float32
    """

    def __init__(self, imgSize: Union[int, Sequence[int]], backend: str = "auto", jitterStrength: float = 1.0,
                 minScale: float = 0.08, blur: Optional[bool] = None):
        check_recipe(imgSize, jitterStrength, minScale)
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r} is not supported; accepted: {list(BACKENDS)}")
        self.size = image_size(imgSize)                       # (H, W)
        self.imgSize = self.size[0] if self.size[0] == self.size[1] else self.size
        self.backend = backend
        self.jitterStrength = float(jitterStrength)
        self.minScale = float(minScale)
        self.blur = min(self.size) >= BLUR_MIN_SIZE if blur is None else bool(blur)
        if backend == "auto":
            self.backend = self._auto_backend()
        self.firstAugTrans = self.get_first_aug()
        self.secondAugTrans = self.get_second_aug()

    def get_first_aug(self) -> Callable[[ImageLike], Tensor]:
        """The pipeline of the first view."""
        return self._build_view()

    def get_second_aug(self) -> Callable[[ImageLike], Tensor]:
        """The pipeline of the second view (same recipe, independent draws)."""
        return self._build_view()

    def _auto_backend(self) -> str:
        try:
            AlbumentationsView(self.size, self.jitterStrength, self.minScale, self.blur)
            return "albumentations"
        except (ImportError, NotImplementedError):
            return "torchvision"

    def _build_view(self) -> Callable[[ImageLike], Tensor]:
        view = TorchvisionView if self.backend == "torchvision" else AlbumentationsView
        return view(self.size, self.jitterStrength, self.minScale, self.blur)

    def __call__(self, image: ImageLike) -> Tuple[Tensor, Tensor]:
        """``image`` (PIL or ``[H, W, C]`` uint8) -> two views ``[3, H, W]`` (``imgSize``)."""
        firstAug = self.firstAugTrans(image)
        secondAug = self.secondAugTrans(image)
        return firstAug, secondAug

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(imgSize={self.imgSize}, backend={self.backend!r}, "
                f"jitterStrength={self.jitterStrength}, blur={self.blur})\n"
                f"  each view: {self.firstAugTrans!r}")


class TorchvisionView:
    """One SimCLR view with torchvision's transforms (v1 or v2).

    The pipeline receives an RGB PIL image: for small images PIL's crop/resize
    and color operations are faster than the tensor kernels; it ends with the conversion to a tensor.

    Args:
        imgSize: ``(H, W)`` of the output view.
        s: color distortion strength.
        minScale: smallest crop area, as a fraction of the image.
        blur: whether the recipe includes the Gaussian blur.
    """

    def __init__(self, imgSize: Tuple[int, int], s: float, minScale: float, blur: bool):
        # --- Task 1 begin: the torchvision view recipe (paper, Appendix A) ---
        steps = [
            v2.RandomResizedCrop(imgSize, scale=(minScale, 1.0), antialias=True),
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
            v2.RandomGrayscale(p=0.2),
        ]
        if blur:
            steps.append(v2.RandomApply([v2.GaussianBlur(blur_kernel_size(imgSize), (0.1, 2.0))], p=0.5))
        steps += [
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
        self.pipeline = v2.Compose(steps)
        # --- Task 1 end ---

    def __call__(self, image: ImageLike) -> Tensor:
        return self.pipeline(to_rgb_pil(image))

    def __repr__(self) -> str:
        return repr(self.pipeline)


class AlbumentationsView:
    """One SimCLR view with albumentations (OpenCV) on ``[H, W, 3]`` uint8 arrays.

    Takes the same arguments as ``TorchvisionView``.
    """

    def __init__(self, imgSize: Tuple[int, int], s: float, minScale: float, blur: bool):
        import albumentations as A  # imported here: only this backend needs it

        # --- Task 1 begin: the albumentations view recipe (paper, Appendix A) ---
        steps = [
            A.RandomResizedCrop(size=imgSize, scale=(minScale, 1.0)),
            A.HorizontalFlip(p=0.5),
            A.ColorJitter(brightness=0.8 * s, contrast=0.8 * s, saturation=0.8 * s,
                          hue=0.2 * s, p=0.8),
            A.ToGray(num_output_channels=3, p=0.2),
        ]
        if blur:
            steps.append(A.GaussianBlur(blur_limit=blur_kernel_size(imgSize),
                                        sigma_limit=(0.1, 2.0), p=0.5))
        steps.append(A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=255.0))
        self.pipeline = A.Compose(steps)
        # --- Task 1 end ---
        # One numpy and one python generator shared by every step, reseeded from
        # torch at each call (6 us, against 60 us for Compose.set_random_seed).
        self._bits = np.random.PCG64(0)
        self._pyRandom = random.Random(0)
        self.pipeline.set_random_state(np.random.Generator(self._bits), self._pyRandom)

    def reseed_from_torch(self) -> None:
        """Draw this call's generator state from torch's RNG.

        So ``torch.manual_seed`` (and the per-worker seeds a DataLoader sets)
        control albumentations too.
        """
        high, low = torch.randint(0, 2 ** 62, (2,)).tolist()
        self._bits.state = {"bit_generator": "PCG64", "state": {"state": (high << 62) | low, "inc": PCG_INC},
                            "has_uint32": 0, "uinteger": 0}
        self._pyRandom.seed(high)

    def __call__(self, image: ImageLike) -> Tensor:
        self.reseed_from_torch()
        out = self.pipeline(image=to_rgb_array(image))["image"]             # [H, W, 3] float32
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))  # [3, H, W]

    def __repr__(self) -> str:
        return repr(self.pipeline)


class EvalTransform:
    """Deterministic transform for evaluation: resize, to float, normalize.

    ``image -> [3, H, W]`` float32, no augmentation; ``imgSize`` is an int (square) or ``(H, W)``.
    """

    def __init__(self, imgSize: Union[int, Sequence[int]]):
        self.size = image_size(imgSize)
        self.imgSize = imgSize
        self.pipeline = v2.Compose([
            v2.Resize(self.size, antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])

    def __call__(self, image: ImageLike) -> Tensor:
        return self.pipeline(to_rgb_tensor(image))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pipeline!r})"


def describe(transform: Any) -> str:
    """One-line description of a transform for logs."""
    return " ".join(repr(transform).split())
