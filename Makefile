# The two README commands. Both set everything up first (idempotent:
# a second run takes seconds; the cold mmcv build is cached outside the repo).
PY := .venv/bin/python

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo_mini_ade20k.py

# One pytest worker per core, at most 4 (each holds a torch); a file's tests
# stay on one worker, so module-scoped trained minis train once. The tests
# that start process groups (marker `serial`) run after them, alone.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: setup
	$(PY) -m pytest tests -n $(TEST_JOBS) --dist loadfile -m 'not serial'
	$(PY) -m pytest tests -m serial
