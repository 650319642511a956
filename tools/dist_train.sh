#!/usr/bin/env bash
# Distributed training on one or more nodes:
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
. "$(dirname "$0")/launch_lib.sh"

CONFIG=$1
GPUS=$2
dist_launch train.py "$GPUS" $CONFIG --launcher pytorch ${@:3}
