#!/usr/bin/env bash
# Reproduce the bundled models (pssr_live/models/) from the simulator alone.
# Every model gets the same budget, in two one-cycle stages on fresh simulated data:
#   stage 1: 1200 steps, peak lr 1e-3, training seed 0 (from random init);
#   stage 2: 1500 steps, peak lr 5e-4, training seed 1 (new windows), from stage 1.
# Batch 8 x 48x48 LR tiles, width 16, depth 2, MSE; the best validation model is kept.
# The three models train side by side, one torch thread each, data made in-process;
# on the shared 2-core development machine: stage 1 ~30 min, stage 2 ~7.5 min (less load).
# Each file's metadata holds its commands (stage 1 under training.recipe.init.training).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs}
mkdir -p "$out/stage1" "$out/ft"
common=(--batch 8 --patch 48 --width 16 --depth 2 --val-every 150 --workers 0 --threads 1)
models=("pssr_mf_centered --window centered" "pssr_mf_causal --window causal"
        "pssr_sf --window centered --single-frame")
for spec in "${models[@]}"; do
    read -r name flags <<<"$spec"
    # shellcheck disable=SC2086
    pssr-live train -o "$out/stage1/$name.safetensors" $flags "${common[@]}" \
        --steps 1200 --lr 0.001 --seed 0 &
done
wait
for spec in "${models[@]}"; do
    read -r name flags <<<"$spec"
    # shellcheck disable=SC2086
    pssr-live train -o "$out/ft/$name.safetensors" $flags "${common[@]}" \
        --init "$out/stage1/$name.safetensors" --steps 1500 --lr 0.0005 --seed 1 &
done
wait
cp "$out"/ft/pssr_mf_centered.safetensors "$out"/ft/pssr_mf_causal.safetensors \
   "$out"/ft/pssr_sf.safetensors pssr_live/models/
pssr-live evaluate --json docs/figures/evaluation.json --png docs/figures/panel.png \
    --dose-sweep docs/figures/dose_sweep
pssr-live evaluate --model pssr_live/models/pssr_mf_causal.safetensors \
    --json docs/figures/evaluation_causal.json
