#!/usr/bin/env bash
# The GPU check of the Performance section, as one short script (a few minutes on one GPU):
# NT-Xent timings on CUDA, then full training steps of base_simclr.yaml (ResNet-18, 32-px stem,
# batch 512) on synthetic CIFAR-shaped data, each mode printing images/s and the CIFAR-10 epoch time.
# Needs torch, torchvision, yacs, albumentations, tensorboard, scikit-learn on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python benchmarks/bench_loss.py --devices cuda --sizes 256 1024 4096
python benchmarks/bench_train.py -l assets/experiments/base_simclr.yaml --device cuda --steps 30 \
    --opts data.numWorkers "${WORKERS:-8}"
