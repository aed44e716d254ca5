"""The hints each stub carries, in the order the regions appear in a file.

Each entry: the instruction that ``NotImplementedError`` carries (short, one line),
then the comment lines placed above it.
"""

HINTS = {
    ("core/data/data_augmentation.py", 0): (
        "Task 1: build self.pipeline, one SimCLR view with torchvision (or write the albumentations view instead)",
        [
            "Build ONE view's pipeline and store it in self.pipeline (e.g. a transforms.v2.Compose;",
            "v1 transforms work too). Either this view or the albumentations one below is enough.",
            "It receives an RGB PIL image and must return a [3, H, W] float32 tensor; imgSize is (H, W).",
            "Read the paper's Appendix A (page 12) and answer, in order:",
            "  - Which crop makes two views of one image overlap only partly? Output size: imgSize;",
            "    the smallest crop area is minScale.",
            "  - Is a mirrored image the same object?",
            "  - Color distortion of strength s: how strong is each of brightness, contrast,",
            "    saturation and hue, and how often is it applied?",
            "  - How often does a view lose its colors altogether?",
            "  - Blur only when `blur` is True: kernel from blur_kernel_size(imgSize), sigma range?",
            "  - Finally: a float tensor in [0, 1], then normalize with IMAGENET_MEAN / IMAGENET_STD.",
            "Useful: RandomResizedCrop, RandomHorizontalFlip, RandomApply, ColorJitter, RandomGrayscale,",
            "GaussianBlur, PILToTensor + ToDtype (or ToTensor), Normalize.",
        ],
    ),
    ("core/data/data_augmentation.py", 1): (
        "Task 1: build self.pipeline, one SimCLR view with albumentations (or write the torchvision view instead)",
        [
            "The same recipe as the torchvision view, with albumentations (A.*); either view is enough.",
            "It receives an [H, W, 3] uint8 numpy array; imgSize is (H, W); __call__ turns the float",
            "output into a tensor. Useful: A.RandomResizedCrop(size=..., scale=...), A.HorizontalFlip,",
            "A.ColorJitter(p=...), A.ToGray, A.GaussianBlur(blur_limit=..., sigma_limit=...), A.Normalize,",
            "A.Compose.",
        ],
    ),
    ("core/data/batch_augmentation.py", 0): (
        "Task 1 (optional, batched views for data.augDevice cuda): draw the recipe's random choices",
        [
            "Optional: the same recipe for whole batches on the GPU. Fill params (see the docstring) with",
            "one draw per image: flip [n] bool, jitter [n, 4] (identity 1, 1, 1, 0 where not applied),",
            "order [n, 4] (a permutation of the four color ops), gray [n] bool, sigma [n] (0: no blur).",
            "Draw with uniform(...) so that torch's seed controls them. Until you write it,",
            "data.augDevice cuda augments each image with your ImageTransforms instead.",
        ],
    ),
    ("core/nn/networks/simclr.py", 0): (
        "Task 2: build self.encoder, a ResNet from x [B, C, H, W] to h [B, latentChNo]",
        [
            "Create self.encoder = ResNet(...).build() (see core/nn/networks/resnet.py for its arguments).",
            "Answer these and every argument falls into place:",
            "  - inChNo: how many channels does an RGB image have? (self.inChNo)",
            "  - outChNo: how long is the representation h? (self.latentChNo: 512 for a ResNet-18 or -34)",
            "  - archType: which ResNet? (self.archType)",
            "  - strides: six numbers, one per step (stem conv, stem pool, stages 1-4): self.encoderStrides",
            "  - norm / normKwargs: BatchNorm helps; what about GroupNorm? self.norm, self.normKwargs",
            "  - activ / activKwargs: your favourite nonlinearity, and can it work in place? self.activ, ...",
            "  - lastPool: h must be a vector per image, not a feature map.",
            "baseChNo, firstKernelSize and downType reach ResNet from the `with` block above; passing",
            "self.baseChNo etc. yourself is fine too.",
        ],
    ),
    ("core/nn/networks/simclr.py", 1): (
        "Task 3: build self.project, an MLP from h [B, latentChNo] to z [B, outChNo]",
        [
            "Create self.project = MLP(...).build() (see core/nn/networks/mlp.py for its arguments).",
            "  - inChNo: the size of h. outChNo: the size of z (self.outChNo; the paper uses 128, smaller than h).",
            "  - layerCfg: hidden layer sizes, self.mlpLayers (the paper: one hidden layer).",
            "  - useBias: self.useBias. Dropout: self.dropRate on the last self.dropLayers hidden layers.",
            "  - norm: the paper's head has no normalization (self.projNorm, None by default).",
            "  - activ: the same nonlinearity as the encoder (self.activ, self.activKwargs).",
            "  - lastActiv: should z be squashed by a final nonlinearity? (the paper: no)",
        ],
    ),
    ("core/nn/loss/nt_xent.py", 0): (
        "Task 4: compute the NT-Xent loss of zA and zB (paper Sec. 2.1, Eq. 1)",
        [
            "Define loss, a scalar tensor: the mean of l(i, j) over all 2B anchors (the docstring above).",
            "  - Stack the two views' projections: which row is the positive of row i?",
            "  - Cosine similarity of every pair, divided by self.temperature.",
            "  - A vector is not its own negative: leave k = i out of the denominator.",
            "  - B comes from the inputs (zA.shape[0]): never from the configuration.",
            "Any correct form passes Task 4 (a loop too). The optional part (pytest -m task4_optional):",
            "no [2B, 2B, D] tensor, and what depends only on B built once (self._cache can hold it).",
        ],
    ),
    ("core/nn/loss/nt_xent_distributed.py", 0): (
        "Task 4 (optional, multi-GPU): NT-Xent with negatives gathered from every process",
        [
            "Optional, after Task 4: the same loss when torchrun splits the batch over W processes.",
            "Each process has its own zA, zB [B, D]; gather_with_grad(t) returns [W*B, D] in rank order",
            "and sends gradients back to their owners. Score this process's 2B anchors against all",
            "2WB candidates: which column is each anchor itself, and which its positive? (rank(), world_size())",
            "Define loss (a scalar). Until you write it, its tests are skipped.",
        ],
    ),
}
