"""Shared settings and checks of the property-based (hypothesis) tests.

In ``make test`` every fuzz test is derandomized (the examples are a pure
function of the test), keeps no example database and runs a few dozen
examples, so the fuzz part stays within about a minute on 2 cores. For a
long run, set ``VECA_FUZZ_EXAMPLES`` (examples per test) and pick a seed:

    VECA_FUZZ_EXAMPLES=1000 .venv/bin/python -m pytest tests/test_fuzz_backbone.py \\
        --hypothesis-seed=2026 --hypothesis-show-statistics

(``derandomize`` is then off, so ``--hypothesis-seed`` takes effect.)
"""
import os
import traceback

from hypothesis import HealthCheck, settings

BIG = int(os.environ.get('VECA_FUZZ_EXAMPLES', '0') or 0)

settings.register_profile(
    'veca', derandomize=not BIG, database=None, deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
settings.load_profile('veca')


def examples(n: int) -> settings:
    """``n`` examples in the suite, ``VECA_FUZZ_EXAMPLES`` in a long run."""
    return settings(max_examples=BIG or n)


def raised_by_veca_mm(exc: BaseException) -> bool:
    """The innermost Python frame of ``exc``'s traceback is veca_mm code
    (not torch's or mmengine's several frames down)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and f'{os.sep}veca_mm{os.sep}' in frames[-1].filename


def assert_clear_error(exc: BaseException, *names: str) -> None:
    """A ValueError / TypeError raised by veca_mm whose message names one of
    ``names`` (the argument or field at fault)."""
    msg = str(exc)
    assert isinstance(exc, (ValueError, TypeError)), \
        f'{type(exc).__name__} instead of ValueError/TypeError: {msg}'
    assert raised_by_veca_mm(exc), ''.join(traceback.format_exception(exc))
    assert any(n in msg for n in names), \
        f'the message does not name any of {names}: {msg}'
