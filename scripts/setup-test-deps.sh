#!/usr/bin/env bash
# The system packages the checks and tests use (the README's test command and .ci/run): PyTorch and the ONNX checker
# (reference oracles via /usr/bin/python3), grpcio and grpc_tools (Triton's Python gRPC stubs in
# test/server/triton-python.test.ts), strace (the no-telemetry test), Chromium (the page's browser test), and
# promtool (the metrics check) unpacked from Debian's prometheus package into .tools/ so that no daemon is installed.
# Uses sudo only when not root (containers often run as root without sudo). Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-test-deps: not root and no sudo: run this script as root, or install sudo" >&2
    exit 1
  fi
  SUDO=(sudo)
fi
# sudo drops the environment by default: pass DEBIAN_FRONTEND through env.
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)

"${APT[@]}" update -qq
"${APT[@]}" install -y -qq python3-torch python3-onnx python3-pil python3-grpcio python3-grpc-tools strace >/dev/null
/usr/bin/python3 -c 'import torch, onnx; print(f"torch {torch.__version__}, onnx {onnx.__version__}")'
/usr/bin/python3 -c 'import grpc, grpc_tools; print(f"grpcio {grpc.__version__}")'
# Without Chromium the browser test skips itself and says why; nothing else needs it.
if "${APT[@]}" install -y -qq chromium >/dev/null; then
  /usr/bin/chromium --version
else
  echo "chromium could not be installed: test/server/ui-browser.test.ts will be skipped"
fi

# promtool without the Prometheus daemon: download Debian's package (no root needed) and unpack it into .tools/, where
# test/server/checkers.test.ts finds it.
mkdir -p .tools
(
  cd .tools
  rm -rf prometheus_*.deb prometheus
  apt-get download prometheus >/dev/null
  dpkg-deb -x prometheus_*.deb prometheus
  rm -f prometheus_*.deb
)
.tools/prometheus/usr/bin/promtool --version | head -1
