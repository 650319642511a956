"""Learning assertions that hold on every CPU, and the knobs that measure them.

A test that trains asserts that the trained model beats the trivial
predictor. The trained numbers are deterministic per machine but not across
machines: CPU kernels (AVX-512, AVX2, the portable default; MKL's and
oneDNN's instruction sets; the thread count) round differently, and a tiny
model trains to a different place. So every bar is set from the worst case
over seeds and kernel paths, measured by
``tools/analysis_tools/learning_spread.py`` (its table is in
``docs/testing.md``), with room to spare.

Two environment variables let that script drive the ordinary tests:

- ``VECA_TEST_SEED`` (default 0): the training seed, passed to
  ``tools/train.py`` as ``randomness.seed``;
- ``VECA_SPREAD_LOG``: a JSON-lines file; every learning check appends its
  numbers there (all metrics of a check before any assertion fails).
"""
import json
import os

SEED = int(os.environ.get('VECA_TEST_SEED', '0'))


def seed_opts():
    """``--cfg-options`` entries that fix the training seed."""
    return [f'randomness.seed={SEED}']


def _record(test, rows):
    path = os.environ.get('VECA_SPREAD_LOG')
    if not path:
        return
    env = {k: os.environ.get(k, '') for k in (
        'ATEN_CPU_CAPABILITY', 'MKL_ENABLE_INSTRUCTIONS',
        'ONEDNN_MAX_CPU_ISA', 'VECA_TEST_THREADS')}
    with open(path, 'a') as f:
        for row in rows:
            f.write(json.dumps(dict(test=test, seed=SEED, env=env, **row)) +
                    '\n')


def check_learnt(test, checks):
    """Assert every ``(metric, value, trivial, bar, higher_is_better)``.

    ``bar`` is the threshold the value must pass (strictly); the trivial
    predictor's value is recorded beside it so the spread table can show
    both. ``bar=None`` records a metric without asserting it (one that the
    mini task does not learn on every CPU; the test says which and why).
    Everything is recorded before the first failure is raised.
    """
    rows, failed = [], []
    for metric, value, trivial, bar, higher in checks:
        value, trivial = float(value), float(trivial)
        bar = float('nan') if bar is None else float(bar)
        ok = bar != bar or (value > bar if higher else value < bar)
        rows.append(dict(metric=metric, value=value, trivial=trivial,
                         bar=bar, higher=higher, ok=ok))
        if not ok:
            failed.append((metric, value, 'bar', bar, 'trivial', trivial))
    _record(test, rows)
    assert not failed, (test, failed)
