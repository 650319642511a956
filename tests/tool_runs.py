"""Running the repo's command-line tools from tests, in one place.

``conftest.load_tool`` imports a tool as a module; these run it as a
command line (a fresh process, as a user would), from the repo root.
"""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _env():
    # one intra-op thread: as fast for these tiny models, and no OpenMP
    # spin-waiting when the cores are shared (VECA_TEST_THREADS: the
    # thread count tools/analysis_tools/learning_spread.py varies)
    return dict(os.environ,
                OMP_NUM_THREADS=os.environ.get('VECA_TEST_THREADS', '1'))


def run_tool(args, timeout=600):
    """``python ARGS...``; asserts success, returns stdout + stderr."""
    out = subprocess.run([sys.executable] + [str(a) for a in args], cwd=REPO,
                         capture_output=True, text=True, timeout=timeout,
                         env=_env())
    assert out.returncode == 0, (out.stdout[-3000:] + out.stderr[-5000:])
    return out.stdout + out.stderr


def run_tools(jobs, timeout=400):
    """Several tool command lines at once (they are mostly imports);
    asserts each succeeded, returns their combined outputs."""
    procs = [subprocess.Popen([sys.executable] + [str(a) for a in args],
                              cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=_env())
             for args in jobs]
    outs = [p.communicate(timeout=timeout)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-6000:]
    return outs
