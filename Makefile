# The two README commands. Both set everything up first (idempotent:
# a second run takes seconds; the cold mmcv build is cached outside the repo).
PY := .venv/bin/python

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo_mini_ade20k.py

test: setup
	$(PY) -m pytest tests
