#!/usr/bin/env bash
# Download, on a machine with internet, the wheels that an offline GPU machine lacks for gpu_check.sh.
#
#     bash benchmarks/gpu_wheels.sh [PYTHON_VERSION]     # default 3.12 (the GPU machine's Python)
#
# The GPU machines this project is checked on have torch, torchvision, numpy, scipy, opencv, PyYAML,
# tensorboard and scikit-learn, but not yacs or albumentations (and albumentations' own needs). The
# wheels land in .whl/ (ignored by git); copy that folder along with the repository and
# gpu_check.sh installs them into /tmp/site before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-3.12}"
wheels=(
    yacs==0.1.8
    albumentations==2.0.8 albucore==0.0.24 simsimd==6.5.16 stringzilla==5.3.2
    pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
    typing_extensions==4.16.0
)
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
    "${platforms[@]}" -d .whl "${wheels[@]}"
ls .whl
