import os
import os.path as osp
import socket
from pathlib import Path

import pytest

if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs one pytest worker per core: one intra-op thread each,
    # not every worker on every core. Trained numbers do not move: the tests
    # that train run the tools in subprocesses with one thread whatever the
    # worker (tests/tool_runs.py).
    import torch
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
# Reference fixtures produced by the released research code (see
# tests/data/README.md); the suite reads nothing outside the repository.
DATA = REPO / 'tests' / 'data'
OFFICIAL = DATA

# The arch of the released-format fixture checkpoint.
TINY_OFFICIAL_ARCH = dict(embed_dims=128, num_layers=4, num_heads=4,
                          mlp_ratio=2.66667, num_cores=24)
# A very small arch for pipeline tests.
TINY_ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2.0,
                 num_cores=16)


def free_port() -> int:
    """A TCP port nobody listens on now (for process groups: a fixed port
    collides with another suite or job on the same machine)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='session')
def official_dir():
    """The released-format fixtures committed under ``tests/data``."""
    if not osp.isfile(OFFICIAL / 'veca_tiny_official.pt'):
        raise FileNotFoundError(
            f'{OFFICIAL} lacks the committed fixtures (veca_tiny_official.pt);'
            ' restore tests/data from git')
    return OFFICIAL


def tool_fixture(rel):
    """A module-scoped fixture that loads the tool at ``rel`` (``load_tool``);
    its name is the name it is assigned to."""
    @pytest.fixture(scope='module')
    def fixture():
        return load_tool(rel)

    return fixture


def mini_ade20k(tmp_path_factory, **kwargs):
    """A mini ADE20K (``make_mini_ade20k.py``, quietly) in a fresh temporary
    folder; returns its ``ADEChallengeData2016`` root."""
    return load_tool('tools/dataset_converters/make_mini_ade20k.py'
                     ).make_mini_ade20k(str(tmp_path_factory.mktemp('ade')),
                                        verbose=False, **kwargs)


def load_tool(rel):
    """Import a script under tools/ (not a package) by its repo path."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(rel))[0], REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
