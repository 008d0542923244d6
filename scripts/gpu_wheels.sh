#!/usr/bin/env bash
# Downloads into .whl the wheels scripts/gpu_check.sh installs on a CUDA machine that has torch,
# transformers and numpy but no package index (Python 3.12, x86-64).
set -eu
for spec in lark==1.3.1 jsonschema==4.26.0 referencing==0.37.0 rpds-py==2026.9.1 \
    jsonschema-specifications==2025.9.1 xgrammar==0.2.8 apache-tvm-ffi==0.1.15.post2 \
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "$spec"
done
