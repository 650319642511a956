#!/usr/bin/env bash
# Distributed testing on one or more nodes:
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
. "$(dirname "$0")/launch_lib.sh"

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
dist_launch test.py "$GPUS" $CONFIG $CHECKPOINT --launcher pytorch ${@:4}
