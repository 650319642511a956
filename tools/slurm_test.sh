#!/usr/bin/env bash
# Testing on a Slurm cluster:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args...]
. "$(dirname "$0")/launch_lib.sh"

set -x

CONFIG=$3
CHECKPOINT=$4
slurm_launch "$1" "$2" test.py ${CONFIG} ${CHECKPOINT} --launcher="slurm" ${@:5}
