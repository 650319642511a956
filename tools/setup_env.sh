#!/usr/bin/env bash
# Idempotent set-up: creates .venv at the repo root with the pinned OpenMMLab
# stack (torch 2.14.1, mmengine 0.10.7, mmcv 2.1.0 with compiled ops,
# mmsegmentation 1.2.2, mmdet 3.3.0) and veca_mm in editable mode.
#
# mmcv 2.1.0 ships no wheel for torch 2.14 / Python 3.11, only an sdist that
# does not build as it is: its setup.py imports pkg_resources (removed from
# setuptools >= 70) and asks for -std=c++17 while torch 2.14's headers need
# C++20.  We build it once from a patched temporary copy of the sdist and cache
# the wheel in $VECA_WHEEL_CACHE (default ~/.cache/veca_mm/wheels).
# On a machine with a CUDA toolkit and a GPU, FORCE_CUDA=1 builds the CUDA ops.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
CACHE="${VECA_WHEEL_CACHE:-$HOME/.cache/veca_mm/wheels}"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
STAMP="$VENV/.veca_setup_done"
log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# Fast path: nothing changed since the last successful set-up.
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$CONSTRAINTS" ] && [ "$STAMP" -nt "$ROOT/requirements/runtime.txt" ] \
   && [ "$STAMP" -nt "$ROOT/requirements/nodeps.txt" ] \
   && [ "$STAMP" -nt "$ROOT/requirements/tests.txt" ] && [ "$STAMP" -nt "$ROOT/requirements/deploy.txt" ] \
   && [ "$STAMP" -nt "$ROOT/setup.py" ] && [ "$STAMP" -nt "$0" ]; then
  log "environment up to date ($VENV)"
  exit 0
fi

[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_CONSTRAINT="$CONSTRAINTS"

have() { "$VENV/bin/python" - "$@" <<'PYEOF'
import sys
from importlib import metadata
name, want = sys.argv[1], sys.argv[2]
try:
    sys.exit(0 if metadata.version(name) == want else 1)
except metadata.PackageNotFoundError:
    sys.exit(1)
PYEOF
}

if ! have torch 2.14.1 || ! have torchvision 0.29.1; then
  log "installing torch 2.14.1 + torchvision 0.29.1"
  "${PIP[@]}" install -q torch==2.14.1 torchvision==0.29.1
fi
if ! have mmcv 2.1.0 || ! "$VENV/bin/python" -c 'import mmcv._ext' 2>/dev/null; then
  mkdir -p "$CACHE"
  tag="$("$VENV/bin/python" -c 'import os, sys, torch; v = torch.__version__.split("+")[0]; cuda = "cuda" if os.environ.get("FORCE_CUDA") == "1" else "cpu"; print("torch%s-py%d%d-%s" % (v, sys.version_info[0], sys.version_info[1], cuda))')"
  wheel_dir="$CACHE/$tag"
  if ! ls "$wheel_dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "building mmcv 2.1.0 with compiled ops from its sdist (cold: ~11 minutes on 2 cores)"
    # mmcv's setup.py imports pkg_resources' old API (setuptools < 70);
    # ninja compiles the ops in parallel. The runtime setuptools comes back
    # with requirements/runtime.txt below.
    "${PIP[@]}" install -q 'setuptools<70' wheel ninja
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: mmcv==2.1.0 -d "$tmp"
    tar -xzf "$tmp"/mmcv-2.1.0.tar.gz -C "$tmp"
    # torch >= 2.10 headers refuse anything older than C++20.
    sed -i 's/std=c++17/std=c++20/g; s/std=c++14/std=c++20/g; s/std:c++1[47]/std:c++20/g' "$tmp/mmcv-2.1.0/setup.py"
    grep -q 'c++20' "$tmp/mmcv-2.1.0/setup.py" || { echo "patching mmcv's C++ standard failed" >&2; exit 1; }
    mkdir -p "$wheel_dir"
    (cd "$tmp/mmcv-2.1.0" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel -v --no-build-isolation --no-deps . -w "$tmp/wheel" > "$tmp/build.log" 2>&1) \
      || { tail -n 60 "$tmp/build.log" >&2; echo "mmcv build failed; full log above" >&2; exit 1; }
    mv "$tmp"/wheel/mmcv-2.1.0-*.whl "$wheel_dir"/
    log "cached $(ls "$wheel_dir")"
  else
    log "reusing cached mmcv wheel from $wheel_dir"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-2.1.0-*.whl
  # mmcv's own runtime requirements (addict, yapf, ...), from PyPI.
  "${PIP[@]}" install -q addict packaging pyyaml yapf opencv-python-headless
fi

log "installing the OpenMMLab stack and veca_mm"
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" \
  -r "$ROOT/requirements/deploy.txt"
# panopticapi-lite: see the file (its declared numpy<2 would downgrade numpy)
"${PIP[@]}" install -q --no-deps -r "$ROOT/requirements/nodeps.txt"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"
"$VENV/bin/python" -c "import torch, mmengine, mmcv, mmseg, mmdet, timm, veca_mm; from mmcv.ops import nms, RoIAlign; print('stack ok: torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmseg', mmseg.__version__, 'mmdet', mmdet.__version__)"
touch "$STAMP"
log "done"
