#!/usr/bin/env bash
# Starts or resumes the long run (issue: the shipped model past 90.9%). The fused step always; one ORT thread, or
# THREADS=2 when the machine is otherwise idle (1 and 2 threads compute the same floats: PLAN.md, "Replay check");
# nice so that other work keeps priority.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUN=runs/cifar10-s4-long2
if [ -f "$RUN/checkpoint.safetensors" ]; then
  # The thread count is not part of the checkpoint's recipe: give it again (the step mode is).
  exec nice -n 19 npx mixer train --out-dir "$RUN" --resume --threads "${THREADS:-1}" >>"$RUN/train.log" 2>&1
fi
exec nice -n 19 npx mixer train --init models/mixer-cifar10.safetensors --out-dir "$RUN" --epochs 240 \
  --batch-size 128 --lr 0.0005 --weight-decay 0.05 --warmup-epochs 2 --min-lr-ratio 0.02 --label-smoothing 0.1 \
  --augment crop,flip,autoaugment --cutmix 1.0 --mix-prob 0.5 --ema 0.9999 --seed 2 --threads 1 --step fused \
  >>"$RUN/train.log" 2>&1
