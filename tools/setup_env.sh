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
# Which ops (tools/setup_decide.py): CUDA ops when torch sees a GPU and the
# CUDA toolkit's major version matches torch's (or FORCE_CUDA=1), CPU ops
# when torch sees none; a GPU without a matching toolkit stops before the
# build unless VECA_ACCEPT_CPU_OPS=1 (docs/gpu.md). VECA_PROGRESS_EVERY
# (default 60) is the seconds between the build's progress lines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
CACHE="${VECA_WHEEL_CACHE:-$HOME/.cache/veca_mm/wheels}"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
STAMP="$VENV/.veca_setup_done"
log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# shellcheck source=tools/setup_lib.sh
. "$ROOT/tools/setup_lib.sh"

# Fast path: nothing changed since the last successful set-up.
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$CONSTRAINTS" ] && [ "$STAMP" -nt "$ROOT/requirements/runtime.txt" ] \
   && [ "$STAMP" -nt "$ROOT/requirements/nodeps.txt" ] \
   && [ "$STAMP" -nt "$ROOT/requirements/tests.txt" ] && [ "$STAMP" -nt "$ROOT/requirements/deploy.txt" ] \
   && [ "$STAMP" -nt "$ROOT/setup.py" ] && [ "$STAMP" -nt "$0" ] \
   && [ "$STAMP" -nt "$ROOT/tools/setup_decide.py" ] \
   && [ "$STAMP" -nt "$ROOT/tools/setup_lib.sh" ]; then
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
# cuda / cpu / cpu-on-gpu and the wheel cache tag; a GPU without a matching
# CUDA toolkit stops here, before the build (exit 3, message on stderr).
plan_mmcv_build "$VENV/bin/python" || exit $?
# The installed ops are the wrong kind when CUDA ops are wanted and mmcv
# was built without them (a CPU build from before the GPU or the toolkit).
ops_ok() { "$VENV/bin/python" -c "import sys, mmcv._ext
from mmcv.ops import get_compiling_cuda_version as v
sys.exit('$ops_kind' == 'cuda' and v() == 'not available')" 2>/dev/null; }
if ! have mmcv 2.1.0 || ! ops_ok; then
  mkdir -p "$CACHE"
  wheel_dir="$CACHE/$tag"
  if ! ls "$wheel_dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "building mmcv 2.1.0 with compiled $ops_kind ops from its sdist (cold CPU ops: 10-15 minutes on 2 cores; a progress line every ${VECA_PROGRESS_EVERY:-60} s)"
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
    build_mmcv() {
      cd "$tmp/mmcv-2.1.0" && env "${build_env[@]}" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" wheel -v --no-build-isolation --no-deps . -w "$tmp/wheel"
    }
    run_with_progress "$tmp/build.log" build_mmcv \
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
if [ "$ops_kind" = cpu-on-gpu ]; then
  log "VECA_ACCEPT_CPU_OPS=1: mmcv's ops are CPU-only on this GPU machine; these configs will fail on the GPU:"
  "$VENV/bin/python" "$ROOT/tools/setup_decide.py" --list-configs
fi
touch "$STAMP"
log "done"
