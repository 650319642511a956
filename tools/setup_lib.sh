# Sourced by tools/setup_env.sh (and tests/test_setup_env.py).
#
#   plan_mmcv_build PYTHON
#
# runs tools/setup_decide.py with PYTHON (the venv's, torch installed) and
# sets ops_kind (cuda | cpu | cpu-on-gpu), tag (the wheel cache directory)
# and build_env (the mmcv build's environment); returns 3, after the
# decision's message on stderr, when the set-up must stop before the build.
#
#   run_with_progress LOG CMD [ARGS...]
#
# runs CMD with its output in LOG and, every $VECA_PROGRESS_EVERY seconds
# (default 60), prints "[setup HH:MM:SS] mmcv build: N/M objects compiled
# (latest: <file>)" from the last ninja status line in LOG ("[N/M] c++ ...
# -c FILE -o ..."; without a terminal ninja prints it when that object is
# done, so FILE is the latest one finished). Returns CMD's status.
SETUP_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

plan_mmcv_build() {
  local decision
  decision="$("$1" "$SETUP_LIB_DIR/setup_decide.py")" || return $?
  read -r ops_kind tag <<<"$decision"
  if [ "$ops_kind" = cuda ]; then
    build_env=(FORCE_CUDA=1)
  else  # mmcv's setup.py builds CUDA ops whenever torch sees a GPU: hide it
    build_env=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
  fi
}

# The progress of the build logged in $1, in words.
mmcv_progress() {
  local last n_m src
  last="$(grep -o '\[[0-9]\{1,\}/[0-9]\{1,\}\] .*' "$1" 2>/dev/null | tail -n 1)"
  if [ -z "$last" ]; then
    printf 'preparing (0 objects compiled yet)'
    return
  fi
  n_m="$(printf '%s' "$last" | sed 's/^\[\([0-9]*\)\/\([0-9]*\)\].*/\1\/\2/')"
  src="$(printf '%s' "$last" | sed -n 's/.* -c \([^ ]*\) -o .*/\1/p')"
  if [ -n "$src" ]; then
    # the path inside the sdist (mmcv/ops/csrc/...), not the temporary dir
    src="$(printf '%s' "$src" | sed 's|.*/mmcv-[0-9][^/]*/||')"
    printf '%s objects compiled (latest: %s)' "$n_m" "$src"
  else
    src="$(printf '%s' "$last" | sed -n 's/.* -o \([^ ]*\).*/\1/p')"
    printf '%s objects compiled (linking %s)' "$n_m" "${src##*/}"
  fi
}

run_with_progress() {
  local out=$1 every=${VECA_PROGRESS_EVERY:-60} pid watcher rc=0
  shift
  "$@" >"$out" 2>&1 &
  pid=$!
  (
    while sleep "$every"; do
      printf '[setup %s] mmcv build: %s\n' "$(date +%H:%M:%S)" \
        "$(mmcv_progress "$out")"
    done
  ) &
  watcher=$!
  wait "$pid" || rc=$?
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  return "$rc"
}
