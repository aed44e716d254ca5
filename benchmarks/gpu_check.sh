#!/usr/bin/env bash
# The GPU check: the project's real command lines on one GPU, in a few minutes, ending in one summary table.
#
#     bash benchmarks/gpu_check.sh                      # on a GPU machine (~3-4 min on one H200)
#     DEVICE=cpu bash benchmarks/gpu_check.sh           # its CPU dry run (small sizes; the suite runs it)
#
# Stages (each timed, each a row of the summary; the script exits 1 if any failed):
#   1. the CUDA tests of the suite (the mocked-CUDA device tests, and the batched augmentation on CUDA);
#   2. train/main.py with the shipped base_simclr.yaml and its DEFAULT device, on synthetic CIFAR-shaped
#      images, stopped by a SIGTERM to its whole process group (workers included) after its first
#      epoch, which must save and exit 143; then --resume auto, which must finish;
#   3. a learning check: the quickstart (embedded digits) on the device: kNN at step 0 and at the end;
#   4. train/linear_eval.py, train/finetune.py and train/tsne.py on that checkpoint;
#   5. the step timings (benchmarks/bench_train.py, through the trainer's own assembly) and the loss
#      timings, ours vs lightly's when lightly is installed (benchmarks/bench_loss.py --in-process).
# Knobs (environment): DEVICE, PYTHON, WORK (run folder; default a new temporary one), IMAGES and BATCH
# (synthetic training images and batch), WORKERS, EPOCHS (quickstart), STEPS (timed steps), OPTS (extra
# --opts for stage 2), MODES (bench_train's modes; default all), SMALL (extra --opts for stage 3), SIZES
# (loss batch sizes), SKIP_TESTS=1 (stage 1 off), LEARN_CHECK=0 (stage 3 does not require kNN to rise; the dry run's default).
#
# On an offline machine without yacs/albumentations: run benchmarks/gpu_wheels.sh where there is internet
# and bring the .whl/ folder along; the wheels are then installed into /tmp/site first.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
if [ "$DEVICE" = cpu ]; then         # the dry run: the same stages at sizes two CPU cores finish in ~3 min
    : "${MODES:=fp32 bf16+channels_last}" "${LEARN_CHECK:=0}" "${IMAGES:=256}" "${BATCH:=32}" "${WORKERS:=2}"
    : "${EPOCHS:=1}" "${STEPS:=2}" "${SIZES:=128}"
    : "${OPTS:=model.kwargs.baseChNo 8 model.latentChNo 64 model.outChNo 32 model.kwargs.mlpLayers [64]}"
    : "${SMALL:=model.kwargs.baseChNo 8 model.latentChNo 64 model.outChNo 32 model.kwargs.mlpLayers [64]}"
fi
IMAGES="${IMAGES:-20480}"; BATCH="${BATCH:-512}"; WORKERS="${WORKERS:-8}"; EPOCHS="${EPOCHS:-40}"
STEPS="${STEPS:-30}"; SIZES="${SIZES:-256 1024 4096}"; OPTS="${OPTS:-}"; SMALL="${SMALL:-}"
WORK="${WORK:-$(mktemp -d /tmp/gpu_check.XXXXXX)}"
mkdir -p "$WORK"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
SUMMARY="$WORK/summary.tsv"
: > "$SUMMARY"
failed=0

# stage NAME FIGURE-COMMAND -- COMMAND...: run COMMAND (output to $WORK/NAME.log and the console), time it,
# then add a summary row with the figure that FIGURE-COMMAND prints from the log.
stage() {
    local name="$1" figure="$2"; shift 3
    local start end rc
    echo "== $name: $*"
    start=$(date +%s.%N)
    "$@" 2>&1 | tee "$WORK/$name.log"
    rc=${PIPESTATUS[0]}
    end=$(date +%s.%N)
    [ "$rc" = 0 ] || failed=1
    printf '%s\t%s\t%.1f\t%s\n' "$name" "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")" \
        "$(awk "BEGIN { print $end - $start }")" "$(eval "$figure" < "$WORK/$name.log" | tr '\n\t' '  ')" >> "$SUMMARY"
}

# train/main.py in a process group of its own; SIGTERM to the whole group after the first epoch; must exit 143.
preempted_run() {
    setsid "$PYTHON" train/main.py "$@" > "$WORK/preempt.out" 2>&1 &
    local pid=$! waited=0
    until grep -q "^epoch 1/" "$WORK/preempt.out" || ! kill -0 "$pid" 2> /dev/null; do
        sleep 0.2; waited=$((waited + 1))
        [ "$waited" -lt 3000 ] || break
    done
    kill -TERM -- "-$pid" 2> /dev/null
    wait "$pid"
    local rc=$?
    cat "$WORK/preempt.out"
    if [ "$rc" != 143 ] || grep -q "Traceback" "$WORK/preempt.out"; then
        echo "expected exit 143 and no traceback after the group SIGTERM; got exit $rc"
        return 1
    fi
}

# train/main.py on the digits; unless LEARN_CHECK=0 (the dry run's one epoch), kNN must end above step 0's.
learning_run() {
    "$PYTHON" train/main.py "$@" > "$WORK/learn.out" 2>&1
    local rc=$? first last
    cat "$WORK/learn.out"
    [ "$rc" = 0 ] || return "$rc"
    first=$(grep -oE 'untrained\)  kNN top-1 [0-9.]+' "$WORK/learn.out" | grep -oE '[0-9.]+$')
    last=$(grep -oE 'final loss [0-9.]+, kNN top-1 [0-9.]+' "$WORK/learn.out" | grep -oE '[0-9.]+$')
    if [ "${LEARN_CHECK:-1}" = 1 ] && ! awk "BEGIN { exit !($last > $first + 0.02) }"; then
        echo "no learning: kNN top-1 $first at step 0, $last at the end"
        return 1
    fi
}

[ "$DEVICE" = cuda ] && { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; }
"$PYTHON" -c "import torch; print('torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())"

if [ "${SKIP_TESTS:-0}" != 1 ]; then
    stage cuda_tests "grep -E '[0-9]+ passed' | tail -1" -- \
        "$PYTHON" -m pytest -q -p no:cacheprovider tests/core/nn/utils/test_device.py \
        tests/train/test_trainer_device.py tests/core/data/test_batch_augmentation.py
fi

# shellcheck disable=SC2086
RUN=(-l assets/experiments/base_simclr.yaml --opts general.name gpu_check general.logsDir "$WORK/logs"
     general.saveDir "$WORK/ckpt" data.dataset Synthetic data.syntheticImages "$IMAGES" train.trainBatch "$BATCH"
     data.numWorkers "$WORKERS" train.epochs 2 log.evalEpoch 0 log.evalAtStart False log.tsneSamples 0
     log.embeddingSamples 0 $OPTS)
stage preempt "grep -oE '^(device [^|]*|SIGTERM: [^;]*)'" -- preempted_run "${RUN[@]}"
stage resume "grep -oE '^(resumed from .* at [^(]*|epoch 2/2 +loss [0-9.]+)'" -- "$PYTHON" train/main.py "${RUN[@]::2}" --resume auto \
    "${RUN[@]:2}"

# shellcheck disable=SC2086
QUICK=(-l assets/experiments/quickstart.yaml --opts general.name quick general.logsDir "$WORK/logs"
       general.saveDir "$WORK/ckpt" general.device "$DEVICE" train.epochs "$EPOCHS" $SMALL)
stage learn "grep -oE '(epoch 0 \(untrained\)  kNN top-1 [0-9.]+|final loss [0-9.]+, kNN top-1 [0-9.]+)'" -- \
    learning_run "${QUICK[@]}"
CKPT="$WORK/ckpt/quick/encoder.pt"
TOOL=(--ckpt "$CKPT" --opts general.device "$DEVICE" general.logsDir "$WORK/logs")   # results under WORK only
stage linear_eval "grep -E '^  (linear_top1|knn_top1|pixels_linear_top1) '" -- "$PYTHON" train/linear_eval.py \
    "${TOOL[@]}"
stage finetune "grep -E '^  finetune_top1 '" -- "$PYTHON" train/finetune.py --fraction 0.1 --epochs 2 "${TOOL[@]}"
stage tsne "grep -iE 'wrote|png' | tail -1" -- "$PYTHON" train/tsne.py --samples 300 --out "$WORK/tsne.png" \
    "${TOOL[@]}"

# shellcheck disable=SC2086
stage step_timing "grep -E '^\| (fp32|bf16)' | cut -d'|' -f2,4,5" -- "$PYTHON" benchmarks/bench_train.py \
    -l assets/experiments/base_simclr.yaml --device "$DEVICE" --steps "$STEPS" --batch "$BATCH" \
    ${MODES:+--modes $MODES} --opts data.numWorkers "$WORKERS" $OPTS
# shellcheck disable=SC2086
stage loss_timing "grep -E '^\| [0-9]' | cut -d'|' -f2,3,8,10" -- "$PYTHON" benchmarks/bench_loss.py \
    --in-process --devices "$DEVICE" --sizes $SIZES

echo
echo "# GPU check summary: device $DEVICE, $("$PYTHON" -c "import torch; print(torch.cuda.get_device_name(0) \
if torch.cuda.is_available() else 'no CUDA device')"), run folder $WORK"
echo "| stage | result | seconds | figures |"
echo "|---|---|---|---|"
while IFS=$'\t' read -r name result seconds figure; do
    echo "| $name | $result | $seconds | $figure |"
done < "$SUMMARY"
exit "$failed"
