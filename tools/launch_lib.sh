# Sourced by tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh: the
# launchers they share. The tools' own arguments pass through unchanged.
#
#   dist_launch SCRIPT GPUS [ARGS...]
#
# runs tools/SCRIPT under torch.distributed.run with GPUS processes on this
# node (NNODES, NODE_RANK, MASTER_ADDR and PORT from the environment).
#
#   slurm_launch PARTITION JOB_NAME SCRIPT [ARGS...]
#
# runs tools/SCRIPT through srun (GPUS, GPUS_PER_NODE, CPUS_PER_TASK and
# SRUN_ARGS from the environment).
TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python}

dist_launch() {
    local script=$1 gpus=$2
    shift 2
    PYTHONPATH="$TOOLS_DIR/..":$PYTHONPATH \
    $PYTHON -m torch.distributed.run \
        --nnodes=${NNODES:-1} \
        --node_rank=${NODE_RANK:-0} \
        --master_addr=${MASTER_ADDR:-"127.0.0.1"} \
        --nproc_per_node=$gpus \
        --master_port=${PORT:-29500} \
        "$TOOLS_DIR/$script" "$@"
}

slurm_launch() {
    local partition=$1 job_name=$2 script=$3
    local gpus_per_node=${GPUS_PER_NODE:-4}
    shift 3
    PYTHONPATH="$TOOLS_DIR/..":$PYTHONPATH \
    srun -p ${partition} \
        --job-name=${job_name} \
        --gres=gpu:${gpus_per_node} \
        --ntasks=${GPUS:-4} \
        --ntasks-per-node=${gpus_per_node} \
        --cpus-per-task=${CPUS_PER_TASK:-5} \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS} \
        $PYTHON -u "$TOOLS_DIR/$script" "$@"
}
