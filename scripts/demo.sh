#!/usr/bin/env bash
# The main job on the embedded defaults (run by `make demo`): read, validate, summarise, convert and store the
# example arena log; rank it with intervals and plot; simulate the active arena; train and evaluate a reward
# model; then start the web app on a demo campaign and arena.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFKIT="${PREFKIT:-prefkit}"
EX=src/prefkit/examples
OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate and summarise the example arena log ($EX/battles.jsonl)"
"$PREFKIT" validate "$EX/battles.jsonl"
"$PREFKIT" info "$EX/battles.jsonl"

step "convert it to Parquet"
"$PREFKIT" convert "$EX/battles.jsonl" "$OUT/battles.parquet" --to parquet
"$PREFKIT" info "$OUT/battles.parquet" --format json > "$OUT/info.json"
echo "wrote $OUT/battles.parquet and $OUT/info.json"

step "import it into a project store, twice (the second import adds nothing), and export it back"
"$PREFKIT" import "$EX/battles.jsonl" --db "$OUT/project.db"
"$PREFKIT" import "$EX/battles.jsonl" --db "$OUT/project.db"
"$PREFKIT" export --db "$OUT/project.db" "$OUT/exported.jsonl" --to arena

step "leaderboard with 95% bootstrap intervals (1,000 rounds), and its plot"
"$PREFKIT" rank "$EX/battles.jsonl" --ci bootstrap --rounds 1000 --plot "$OUT/leaderboard.png"
"$PREFKIT" rank "$EX/battles.jsonl" --method davidson --plot "$OUT/leaderboard.html" --format csv > "$OUT/leaderboard.csv"
echo "wrote $OUT/leaderboard.png, $OUT/leaderboard.html and $OUT/leaderboard.csv"

step "active K-wise arena against random-pair Elo (simulation, 30 items, 5 seeds)"
"$PREFKIT" arena simulate --items 30 --k 4 --truth pl --sd 1.0 --seeds 5 --plot "$OUT/arena.png"

step "reward model: 5-fold CV, train, evaluate and score on the example pairs"
"$PREFKIT" reward cv "$EX/reward-pairs.jsonl" --head bt --folds 5
"$PREFKIT" reward train "$EX/reward-pairs.jsonl" --head bt --out "$OUT/rm"
"$PREFKIT" reward eval "$OUT/rm" "$EX/reward-pairs.jsonl"
"$PREFKIT" reward score "$OUT/rm" "$EX/reward-pairs.jsonl" --out "$OUT/scored.jsonl"

if [ -n "${PREFKIT_DEMO_NO_SERVE:-}" ]; then
  step "done (PREFKIT_DEMO_NO_SERVE set: not starting the web app)"
  exit 0
fi
step "web app on a demo campaign and arena (Ctrl-C to stop)"
exec "$PREFKIT" serve --db "$OUT/project.db" --demo
