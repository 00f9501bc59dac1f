#!/usr/bin/env bash
# The whole test suite: lint and types, knowledge schema, Rasa data validation, training if needed, Rasa test stories,
# then pytest (unit, action, retrieval evaluation, gateway, integration against real services).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# quiet, offline TensorFlow and Hugging Face for the rasa commands below (knowledge/env.py OFFLINE_DEFAULTS)
export $($PY -c 'from knowledge.env import OFFLINE_DEFAULTS as d; print(" ".join(f"{k}={v}" for k, v in d.items()))')

bash scripts/services.sh
bash scripts/browser.sh
bash scripts/webchat.sh
bash scripts/nginx.sh

echo "== lint (ruff) and types (mypy --strict; the paths are in pyproject.toml)"
.venv/bin/ruff check .
.venv/bin/mypy
echo "== knowledge base schema"
$PY -m knowledge validate
echo "== knowledge base review report (fails on an expired policy still in the base)"
$PY -m knowledge report | tail -n 1
echo "== rasa data validate"
.venv/bin/rasa data validate --config config.yml --domain domain.yml --data nlu --fail-on-warnings
echo "== train (only when inputs changed)"
MODEL=$($PY -m scripts.stack model-path | tail -n 1)
echo "== rasa test stories (NLU + dialogue, fail on prediction errors)"
.venv/bin/rasa test core --model "$MODEL" --stories tests/stories --fail-on-prediction-errors \
  --out results/test-stories --no-plot
echo "== pytest"
TAXGUIDE_MODEL="$MODEL" $PY -m pytest tests -p no:cacheprovider "$@"
