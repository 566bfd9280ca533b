#!/usr/bin/env bash
# Reproduce the bundled models (pssr_live/models/) from the simulator alone.
# The three runs share one budget (1200 steps x batch 8 x 48x48 LR tiles, seed 0) and
# run side by side on the CPU (one torch thread each, data made in-process); on the
# 2-core development machine they took ~35 min together. Then the bundled files are
# replaced and the evaluation of docs/model.md is rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/final}
mkdir -p "$out"
common=(--steps 1200 --batch 8 --patch 48 --width 16 --depth 2 --seed 0 --val-every 150
        --workers 0 --threads 1)
pssr-live train -o "$out/pssr_mf_centered.safetensors" --window centered "${common[@]}" &
pssr-live train -o "$out/pssr_mf_causal.safetensors" --window causal "${common[@]}" &
pssr-live train -o "$out/pssr_sf.safetensors" --window centered --single-frame "${common[@]}" &
wait
cp "$out"/pssr_mf_centered.safetensors "$out"/pssr_mf_causal.safetensors \
   "$out"/pssr_sf.safetensors pssr_live/models/
pssr-live evaluate --json docs/figures/evaluation.json --png docs/figures/panel.png \
    --dose-sweep docs/figures/dose_sweep
