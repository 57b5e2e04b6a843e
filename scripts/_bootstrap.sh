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
# azurite (Azure Blob Storage's emulator) comes from the npm registry, pinned, into .cache/npm;
# tests find it there (tests/integrations/conftest.py). Without npm its tests skip.
AZURITE_VERSION=3.37.0
AZURITE_DIR="${SKIFF_CACHE_DIR:-$PWD/.cache}/npm"
if ! command -v npm >/dev/null 2>&1; then
  echo "[bootstrap] npm not found: the Azure Blob tests will skip (install nodejs and npm)" >&2
elif [ "$(cat "$AZURITE_DIR/.skiff-azurite" 2>/dev/null)" != "$AZURITE_VERSION" ] \
    || [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
  echo "[bootstrap] installing azurite $AZURITE_VERSION from npm into .cache/npm (once)" >&2
  mkdir -p "$AZURITE_DIR"
  npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --loglevel=error --no-save "azurite@$AZURITE_VERSION" >/dev/null
  echo "$AZURITE_VERSION" >"$AZURITE_DIR/.skiff-azurite"
fi
