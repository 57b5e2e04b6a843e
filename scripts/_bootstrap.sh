# Sourced by scripts/test and scripts/demo: make sure uv and the project environment exist.
# Needs only python3 (3.10+) and pip; everything else is installed here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "[bootstrap] installing uv with pip" >&2
  python3 -m pip install -q --user uv 2>/dev/null || python3 -m pip install -q uv
fi
echo "[bootstrap] syncing the project environment (.venv) from uv.lock" >&2
uv sync -q --frozen --extra dev
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$PWD/.venv/bin:$PATH"
echo "[bootstrap] preparing the Prefect server environments (.cache/: 3.9.1, and 3.6.x, 3.4.x for the old-server smoke suites)" >&2
python scripts/prefect_server.py install --all >/dev/null
