#!/usr/bin/env bash
# Creates (or reuses) the virtualenv and installs maskray into it.
# A torch that already imports with its torchvision in that env is kept as it is:
# its versions are pinned for the rest of the install so nothing can swap it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-}          # e.g. "torch==2.6.0 torchvision==0.21.0 --index-url https://download.pytorch.org/whl/cu124"

# torch's CUDA wheels are ~5.5 GB installed; pip's cache would keep a second copy of them.
export PIP_NO_CACHE_DIR=${PIP_NO_CACHE_DIR:-1}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
py="$VENV/bin/python"
pin="$VENV/maskray-torch-pin.txt"

torch_works() {
  "$py" - <<'PY' 2>/dev/null
import torch, torchvision
torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
PY
}

if torch_works; then
  "$py" - > "$pin" <<'PY'
import importlib.metadata as md
for name in ("torch", "torchvision"):
    print(f"{name}=={md.version(name)}")
PY
  echo "setup: keeping the working $(paste -sd' ' "$pin") in $VENV"
elif [ -n "$TORCH_SPEC" ]; then
  # shellcheck disable=SC2086
  "$py" -m pip install $TORCH_SPEC
  torch_works || { echo "setup: TORCH_SPEC gave a torch/torchvision pair that does not import together" >&2; exit 1; }
  "$py" -c 'import importlib.metadata as md; [print(f"{n}=={md.version(n)}") for n in ("torch","torchvision")]' > "$pin"
else
  free_gb=$(df -Pk "$VENV" | awk 'NR==2 {print int($4 / 1048576)}')
  if [ "$free_gb" -lt 7 ]; then
    echo "setup: torch and torchvision with the rest need about 7 GB in $VENV; only ${free_gb} GB free there" >&2
    exit 2
  fi
  cp constraints.txt "$pin"
  "$py" -m pip install -c "$pin" torch torchvision
fi

"$py" -m pip install -c "$pin" -e ".[test]"
torch_works || { echo "setup: torch and torchvision no longer import together in $VENV" >&2; exit 1; }
echo "setup: ok ($VENV)"
