#!/usr/bin/env bash
# Gradescope runs this once, when the autograder image is built (as root, in /autograder/source).
# It installs Python, the CPU-only PyTorch wheels pinned by the starter (no CUDA: ~200 MB instead of
# several GB, and less memory at run time), and the starter's other requirements into /autograder/venv,
# and creates the unprivileged user the student's code runs as.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
TORCH=$(grep -E '^torch==' starter/req_pip.txt)
VISION=$(grep -E '^torchvision==' starter/req_pip.txt)
/autograder/venv/bin/pip install "$TORCH" "$VISION" --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -r starter/req_pip.txt
/autograder/venv/bin/python -c "import torch, torchvision, albumentations; print('installed torch', torch.__version__)"
/autograder/venv/bin/python -m compileall -q starter      # each grading's copies reuse the bytecode
# The student's code runs as this unprivileged user, which can read the venv and nothing of /autograder/source.
id -u simclr-student >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin simclr-student
chmod -R a+rX /autograder/venv
runuser -u simclr-student -- /autograder/venv/bin/python -c "import torch" && echo "simclr-student can run the venv"
