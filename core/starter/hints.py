"""The hints each stub carries, in the order the regions appear in a file.

Each entry: the instruction that ``NotImplementedError`` carries (short, one line),
then the comment lines placed above it.
"""

HINTS = {
    ("core/data/data_augmentation.py", 0): (
        "Task 1: build self.pipeline, the torchvision recipe of one SimCLR view",
        [
            "Build ONE view's pipeline and store it in self.pipeline (a v2.Compose).",
            "It receives an RGB PIL image and must return a [3, imgSize, imgSize] float32 tensor.",
            "Read the paper's Appendix A (page 12) and answer, in order:",
            "  - Which crop makes two views of one image overlap only partly? Output side: imgSize;",
            "    the smallest crop area is minScale.",
            "  - Is a mirrored image the same object?",
            "  - Color distortion of strength s: how strong is each of brightness, contrast,",
            "    saturation and hue, and how often is it applied?",
            "  - How often does a view lose its colors altogether?",
            "  - Blur only when `blur` is True: kernel from blur_kernel_size(imgSize), sigma range?",
            "  - Finally: PIL image -> uint8 tensor -> float in [0, 1], then normalize with",
            "    IMAGENET_MEAN / IMAGENET_STD.",
            "Useful: v2.RandomResizedCrop, v2.RandomHorizontalFlip, v2.RandomApply, v2.ColorJitter,",
            "v2.RandomGrayscale, v2.GaussianBlur, v2.PILToTensor, v2.ToDtype, v2.Normalize.",
        ],
    ),
    ("core/data/data_augmentation.py", 1): (
        "Task 1 (optional, albumentations backend): build self.pipeline with albumentations",
        [
            "Optional: the same recipe as the torchvision view, with albumentations (A.*).",
            "It receives an [H, W, 3] uint8 numpy array; __call__ turns its float output into a tensor.",
            "Useful: A.RandomResizedCrop(size=(h, w), scale=...), A.HorizontalFlip, A.ColorJitter(p=...),",
            "A.ToGray, A.GaussianBlur(blur_limit=..., sigma_limit=...), A.Normalize, A.Compose.",
            "Until you write it, the albumentations tests are skipped, not failed.",
        ],
    ),
    ("core/nn/networks/simclr.py", 0): (
        "Task 2: build self.encoder, a ResNet from x [B, C, H, W] to h [B, latentChNo]",
        [
            "Create self.encoder = ResNet(...).build() (see core/nn/networks/resnet.py for its arguments).",
            "Answer these and every argument falls into place:",
            "  - inChNo: how many channels does an RGB image have? (self.inChNo)",
            "  - outChNo: how long is the representation h? (self.latentChNo; 2048 for ResNet-50 in the paper)",
            "  - archType, baseChNo, firstKernelSize: which ResNet, how wide, which stem? (self.*)",
            "  - strides: six numbers, one per step (stem conv, stem pool, stages 1-4): self.encoderStrides",
            "  - downType: how does the stem pool shrink the image? self.downType",
            "  - norm / normKwargs: BatchNorm helps; what about GroupNorm? self.norm, self.normKwargs",
            "  - activ / activKwargs: your favourite nonlinearity, and can it work in place? self.activ, ...",
            "  - lastPool: h must be a vector per image, not a feature map.",
        ],
    ),
    ("core/nn/networks/simclr.py", 1): (
        "Task 3: build self.project, an MLP from h [B, latentChNo] to z [B, outChNo]",
        [
            "Create self.project = MLP(...).build() (see core/nn/networks/mlp.py for its arguments).",
            "  - inChNo: the size of h. outChNo: the size of z (self.outChNo; the paper uses 128, smaller than h).",
            "  - layerCfg: hidden layer sizes, self.mlpLayers (the paper: one hidden layer).",
            "  - useBias: self.useBias. Dropout: self.dropRate on the last self.dropLayers hidden layers.",
            "  - norm: the paper's head has no normalization; this repo lets you choose with self.projNorm",
            "    and self.projNormKwargs.",
            "  - activ: the same nonlinearity as the encoder (self.activ, self.activKwargs).",
            "  - lastActiv: should z be squashed by a final nonlinearity? (the paper: no)",
        ],
    ),
    ("core/nn/loss/nt_xent.py", 0): (
        "Task 4: build the [2B] index of each row's positive",
        [
            "Define targets, a [2B] long tensor on `device`: the column of each row's positive.",
            "Rows 0..B-1 are the first views, rows B..2B-1 the second views of the same images:",
            "which row holds the other view of row i? (torch.arange and one more call do it.)",
            "The code around this caches the result, so it is built once per batch size",
            "(the original tutorial's optional task).",
        ],
    ),
    ("core/nn/loss/nt_xent.py", 1): (
        "Task 4: compute the NT-Xent loss of zA and zB (paper Sec. 2.1, Eq. 1)",
        [
            "Define loss (a scalar), logits ([2B, 2B]) and targets ([2B]); the code below returns them.",
            "  - Stack the two views' projections: which row is the positive of row i?",
            "  - Cosine similarity of every pair: normalize the rows, then one matrix product.",
            "    Never build a [2B, 2B, D] tensor.",
            "  - Divide by self.temperature.",
            "  - A vector is not its own negative: mask the diagonal out with -inf (do not subtract it).",
            "  - The rest is a 2B-way classification: which function gives -log softmax at the positive?",
            "  - Compute in float32 even under autocast (torch.autocast(..., enabled=False), .float()).",
            "  - Batch size B comes from the inputs; self._positive_index(B, device) gives the targets.",
        ],
    ),
    ("core/nn/loss/nt_xent_distributed.py", 0): (
        "Task 4 (optional, multi-GPU): NT-Xent with negatives gathered from every process",
        [
            "Optional, after Task 4: the same loss when torchrun splits the batch over W processes.",
            "Each process has its own zA, zB [B, D]; gather_with_grad(t) returns [W*B, D] in rank order",
            "and sends gradients back to their owners. Score this process's 2B anchors against all",
            "2WB candidates: which column is each anchor itself, and which its positive? (rank(), world_size())",
            "Define loss, logits [2B, 2WB] and targets [2B]. Until you write it, its tests are skipped.",
        ],
    ),
}
