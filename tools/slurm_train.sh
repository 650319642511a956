#!/usr/bin/env bash
# Training on a Slurm cluster:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [args...]
. "$(dirname "$0")/launch_lib.sh"

set -x

CONFIG=$3
# an optional WORK_DIR comes 4th (anything not starting with '-')
if [ $# -ge 4 ] && [ "${4#-}" = "$4" ]; then
    WORK_ARGS="--work-dir=$4"
    PY_ARGS=${@:5}
else
    WORK_ARGS=""
    PY_ARGS=${@:4}
fi
slurm_launch "$1" "$2" train.py ${CONFIG} ${WORK_ARGS} --launcher="slurm" ${PY_ARGS}
