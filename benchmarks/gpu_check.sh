#!/usr/bin/env bash
# The GPU check of the Performance section, as one short script (a few minutes on one GPU):
# NT-Xent timings on CUDA, then full training steps of base_simclr.yaml (ResNet-18, 32-px stem,
# batch 512) on synthetic CIFAR-shaped data, each mode printing images/s and the CIFAR-10 epoch time,
# then the data path alone for several worker counts (is augmentation the bottleneck?), and the
# fastest mode again with the augmentation batched on the GPU (data.augDevice cuda).
#
#     bash benchmarks/gpu_check.sh                         # WORKERS=12 STEPS=30 by default
#     DEVICE=cpu BATCH=16 STEPS=2 WORKERS=2 DATA_WORKERS=1 BATCHED_WORKERS=1 SIZES=256 \
#         bash benchmarks/gpu_check.sh                     # dry run on a CPU
#
# Needs torch, torchvision, yacs, albumentations, tensorboard, scikit-learn. On an offline machine
# without yacs/albumentations, first run benchmarks/gpu_wheels.sh where there is internet and bring
# the .whl/ folder along: this script then installs those wheels into /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
if [ "$DEVICE" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
# shellcheck disable=SC2086
"$PYTHON" benchmarks/bench_loss.py --devices "$DEVICE" --sizes ${SIZES:-256 1024 4096}
# shellcheck disable=SC2086
"$PYTHON" benchmarks/bench_train.py -l assets/experiments/base_simclr.yaml --device "$DEVICE" \
    --steps "${STEPS:-30}" ${BATCH:+--batch "$BATCH"} --opts data.numWorkers "${WORKERS:-12}" \
    --data-workers ${DATA_WORKERS:-4 8 15}
# The same with the augmentation on the GPU (data.augDevice cuda): workers only decode and batch.
# shellcheck disable=SC2086
"$PYTHON" benchmarks/bench_train.py -l assets/experiments/base_simclr.yaml --device "$DEVICE" \
    --steps "${STEPS:-30}" ${BATCH:+--batch "$BATCH"} --modes bf16+channels_last \
    --opts data.numWorkers "${WORKERS:-12}" data.augDevice cuda --data-workers ${BATCHED_WORKERS:-2 4}
