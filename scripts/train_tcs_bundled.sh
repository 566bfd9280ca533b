#!/usr/bin/env bash
# Reproduce the bundled TCS decoders (pssr_live/models/tcs_b*.safetensors) from the
# simulator alone: GAP-TV front end (3 iterations, TV weight 0.2, the values tuned on
# the validation movies), one width-16 U-Net stage, 64x64 patches, batch 8, fresh masks
# and detector noise per sample, Adam 5e-4 with a cosine schedule over the time budget.
# The simulated pool is renewed as training goes; every 2 minutes the network decodes the
# validation movies and the best model is kept. One torch thread each, two at a time on
# the 2-core development machine; budgets are wall-clock minutes, and each file records
# the step it was kept at and its validation PSNR.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/tcs}
mkdir -p "$out"
pssr-live train-tcs --ratio 10 --minutes 45 -o "$out/tcs_b10.safetensors" &
pssr-live train-tcs --ratio 20 --minutes 38 -o "$out/tcs_b20.safetensors" &
wait
pssr-live train-tcs --ratio 30 --minutes 25 -o "$out/tcs_b30.safetensors"
cp "$out"/tcs_b10.safetensors "$out"/tcs_b20.safetensors "$out"/tcs_b30.safetensors \
   pssr_live/models/
pssr-live evaluate-tcs --ratios 10 20 30 --json docs/tcs-noisy.json --png docs/figures/tcs
pssr-live evaluate-tcs --ratios 10 20 30 --noise-free --json docs/tcs-noise-free.json
