"""tools/setup_env.sh's decision (CUDA ops, CPU ops, or stop before the
build) and its build progress line, on faked machines: a fake ``torch``
package on PYTHONPATH says what torch sees, a fake ``nvcc`` which CUDA
toolkit is there, a fake ``nvidia-smi`` what the driver lists."""
import os
import subprocess
import sys
import textwrap

import pytest

from .conftest import REPO, load_tool

decide_tool = load_tool('tools/setup_decide.py')
LIB = REPO / 'tools' / 'setup_lib.sh'

FAKE_TORCH = '''
__version__ = '2.14.1+cu130'
class version:
    cuda = {torch_cuda!r}
class cuda:
    is_available = staticmethod(lambda: {gpu!r})
    get_device_name = staticmethod(lambda i=0: 'NVIDIA H100 80GB HBM3')
    get_device_capability = staticmethod(lambda i=0: (9, 0))
'''


def fake_toolkit(tmp_path, release: str):
    """A CUDA_HOME whose bin/nvcc reports ``release`` (e.g. '13.0')."""
    home = tmp_path / f'cuda-{release}'
    (home / 'bin').mkdir(parents=True)
    nvcc = home / 'bin' / 'nvcc'
    nvcc.write_text('#!/bin/sh\necho "nvcc: NVIDIA (R) Cuda compiler '
                    f'driver"\necho "Cuda compilation tools, release '
                    f'{release}, V{release}.88"\n')
    nvcc.chmod(0o755)
    return str(home)


def fake_python(tmp_path, gpu: bool, cuda_home=None, torch_cuda='13.0'):
    """A ``python`` that imports a fake torch (and real everything else)."""
    pkg = tmp_path / 'fake' / 'torch'
    (pkg / 'utils').mkdir(parents=True, exist_ok=True)
    (pkg / '__init__.py').write_text(
        FAKE_TORCH.format(torch_cuda=torch_cuda, gpu=gpu))
    (pkg / 'utils' / '__init__.py').write_text('')
    (pkg / 'utils' / 'cpp_extension.py').write_text(
        f'CUDA_HOME = {cuda_home!r}\n')
    py = tmp_path / 'python'
    py.write_text(f'#!/bin/sh\nPYTHONDONTWRITEBYTECODE=1 PYTHONPATH='
                  f'{tmp_path / "fake"} exec {sys.executable} "$@"\n')
    py.chmod(0o755)
    return str(py)


def state(gpu=True, cuda_home=None, torch_cuda='13.0'):
    return dict(torch='2.14.1', torch_cuda=torch_cuda, python='311',
                cuda_available=gpu, cuda_home=cuda_home,
                device_name='NVIDIA H100 80GB HBM3' if gpu else None,
                capability=(9, 0) if gpu else None)


def plan(tmp_path, py, **env):
    """Run setup_lib.sh's plan_mmcv_build as setup_env.sh does; returns
    (exit status, {'ops_kind', 'tag', 'build_env'}, stderr)."""
    script = (f'. {LIB}; plan_mmcv_build {py} || exit $?; '
              'echo "$ops_kind"; echo "$tag"; echo "${build_env[*]}"')
    base = dict(PATH=f'{tmp_path}/bin:/usr/bin:/bin', HOME=str(tmp_path))
    r = subprocess.run(['bash', '-c', script], capture_output=True,
                       text=True, env=dict(base, **env), timeout=60)
    out = r.stdout.splitlines()
    keys = ('ops_kind', 'tag', 'build_env')
    return r.returncode, dict(zip(keys, out)), r.stderr


# ---------------------------------------------------------------------- #
# The decision, branch by branch (pure function, real nvcc subprocess).
def test_gpu_and_matching_toolkit_build_cuda_ops(tmp_path):
    home = fake_toolkit(tmp_path, '13.0')
    kind, tag, msg = decide_tool.decide(state(cuda_home=home), {})
    assert kind == 'cuda' and tag == 'torch2.14.1-py311-cuda13.0-arch9.0'
    assert 'FORCE_CUDA=1' in msg and '13.0' in msg
    # the arch list the user asked for names the wheel, not the GPU's
    _, tag, _ = decide_tool.decide(state(cuda_home=home),
                                   {'TORCH_CUDA_ARCH_LIST': '8.0;9.0+PTX'})
    assert tag == 'torch2.14.1-py311-cuda13.0-arch8.0_9.0+PTX'


@pytest.mark.parametrize('toolkit', [None, '12.4', 'broken'])
def test_gpu_without_matching_toolkit_stops_with_both_ways_out(
        tmp_path, toolkit):
    home = {None: None, 'broken': str(tmp_path)}.get(
        toolkit) or (fake_toolkit(tmp_path, toolkit) if toolkit else None)
    kind, tag, msg = decide_tool.decide(state(cuda_home=home), {})
    assert kind == 'stop' and tag == ''
    why = {None: 'no CUDA toolkit was found',
           '12.4': 'nvcc is CUDA 12.4 and torch 2.14.1 was built with CUDA '
           '13.0',
           'broken': 'has no working bin/nvcc'}[toolkit]
    assert why in msg
    assert 'NVIDIA H100 80GB HBM3' in msg
    assert 'install the CUDA 13.x toolkit' in msg and 'CUDA_HOME=' in msg
    assert 'VECA_ACCEPT_CPU_OPS=1 make setup' in msg


def test_accepting_cpu_ops_on_a_gpu_builds_them_and_lists_configs(tmp_path):
    kind, tag, msg = decide_tool.decide(state(),
                                        {'VECA_ACCEPT_CPU_OPS': '1'})
    assert kind == 'cpu-on-gpu' and tag == 'torch2.14.1-py311-cpu'
    assert 'no CUDA toolkit' in msg and 'listed at the end' in msg


def test_no_gpu_builds_cpu_ops_even_with_a_matching_nvcc(tmp_path):
    """This machine: CUDA 13 nvcc, no GPU: the CPU build wins."""
    home = fake_toolkit(tmp_path, '13.0')
    kind, tag, msg = decide_tool.decide(
        state(gpu=False, cuda_home=home), {'PATH': str(tmp_path / 'none')})
    assert (kind, tag) == ('cpu', 'torch2.14.1-py311-cpu')
    assert 'WARNING' not in msg


def test_gpu_the_driver_lists_but_torch_cannot_use_is_named(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    smi = bin_dir / 'nvidia-smi'
    smi.write_text('#!/bin/sh\necho "GPU 0: NVIDIA A100 (UUID: x)"\n')
    smi.chmod(0o755)
    kind, _, msg = decide_tool.decide(state(gpu=False),
                                      {'PATH': str(bin_dir)})
    assert kind == 'cpu'
    assert 'nvidia-smi lists 1 GPU(s) that torch 2.14.1' in msg


def test_force_cuda_without_a_gpu(tmp_path):
    home = fake_toolkit(tmp_path, '13.0')
    kind, tag, _ = decide_tool.decide(state(gpu=False, cuda_home=home),
                                      {'FORCE_CUDA': '1'})
    assert kind == 'cuda' and tag.endswith('-cuda13.0-archall')
    # no toolkit: stop; accepting CPU ops is not the way out of FORCE_CUDA
    kind, _, msg = decide_tool.decide(
        state(gpu=False), {'FORCE_CUDA': '1', 'VECA_ACCEPT_CPU_OPS': '1'})
    assert kind == 'stop' and 'unset FORCE_CUDA' in msg
    kind, _, msg = decide_tool.decide(state(gpu=False, torch_cuda=None),
                                      {'FORCE_CUDA': '1'})
    assert kind == 'stop' and 'CPU-only build' in msg


# ---------------------------------------------------------------------- #
# setup_env.sh's glue: the faked venv python through plan_mmcv_build.
def test_plan_sets_the_build_environment_for_each_branch(tmp_path):
    home = fake_toolkit(tmp_path, '13.0')
    rc, got, err = plan(tmp_path, fake_python(tmp_path, True, home))
    assert rc == 0, err
    assert got == dict(ops_kind='cuda',
                       tag='torch2.14.1-py311-cuda13.0-arch9.0',
                       build_env='FORCE_CUDA=1')
    assert '[setup ' in err and 'building mmcv\'s CUDA ops' in err

    rc, got, err = plan(tmp_path, fake_python(tmp_path, True, None))
    assert rc == decide_tool.STOP and got == {}
    assert err.count('STOP before building mmcv') == 1

    rc, got, _ = plan(tmp_path, fake_python(tmp_path, True, None),
                      VECA_ACCEPT_CPU_OPS='1')
    assert rc == 0 and got['ops_kind'] == 'cpu-on-gpu'
    # mmcv's setup.py would build CUDA ops as soon as torch sees the GPU
    assert got['build_env'] == 'FORCE_CUDA=0 CUDA_VISIBLE_DEVICES='

    rc, got, _ = plan(tmp_path, fake_python(tmp_path, False, home))
    assert rc == 0 and got['ops_kind'] == 'cpu'
    assert got['tag'] == 'torch2.14.1-py311-cpu'


# ---------------------------------------------------------------------- #
# The progress line during the build.
NINJA = ('  [{n}/3] c++ -MMD -MF x.o.d -O3 -c -c /tmp/t/mmcv-2.1.0/mmcv/ops/'
         'csrc/pytorch/{f} -o /tmp/t/build/{f}.o -std=c++20\n')


def progress(log_text: str, tmp_path) -> str:
    log = tmp_path / 'build.log'
    log.write_text(log_text)
    return subprocess.run(['bash', '-c', f'. {LIB}; mmcv_progress {log}'],
                          capture_output=True, text=True,
                          timeout=60).stdout


def test_progress_names_objects_done_and_the_latest_file(tmp_path):
    assert progress('', tmp_path) == 'preparing (0 objects compiled yet)'
    text = 'running build_ext\n' + NINJA.format(n=1, f='nms.cpp') + \
        'warning: x\n' + NINJA.format(n=2, f='cuda/roi_align_cuda.cu')
    assert progress(text, tmp_path) == \
        '2/3 objects compiled (latest: mmcv/ops/csrc/pytorch/' \
        'cuda/roi_align_cuda.cu)'
    link = '[3/3] c++ -shared a.o b.o -o build/lib/mmcv/_ext.so\n'
    assert progress(text + link, tmp_path) == \
        '3/3 objects compiled (linking _ext.so)'


def test_run_with_progress_prints_while_the_build_runs(tmp_path):
    """A fake build writes ninja lines and waits until the progress line
    for each has been printed, then fails: every line shows up, and the
    build's status comes back."""
    out = tmp_path / 'setup.out'
    want = [f'{n}/3 objects compiled (latest: mmcv/ops/csrc/pytorch/{f})'
            for n, f in ((1, 'nms.cpp'), (2, 'roi_align.cpp'))]
    build = textwrap.dedent(f'''
        wait_for() {{
          for _ in $(seq 400); do
            grep -qF "$1" {out} && return 0; sleep 0.05
          done
        }}
        fake_build() {{
          echo '{NINJA.format(n=1, f="nms.cpp").rstrip()}'
          wait_for '{want[0]}'
          echo '{NINJA.format(n=2, f="roi_align.cpp").rstrip()}'
          wait_for '{want[1]}'
          return 7
        }}''')
    script = (f'. {LIB}; {build}\nrc=0; run_with_progress {tmp_path}/b.log '
              'fake_build || rc=$?; echo "status $rc"')
    with open(out, 'w') as f:
        subprocess.run(['bash', '-c', script], stdout=f, timeout=60,
                       env=dict(os.environ, VECA_PROGRESS_EVERY='0.05'))
    lines = out.read_text().splitlines()
    for w in want:
        assert any(line.startswith('[setup ') and
                   line.endswith('] mmcv build: ' + w) or
                   line.endswith(' mmcv build: ' + w) for line in lines), w
    assert lines[-1] == 'status 7'


# ---------------------------------------------------------------------- #
# What a CPU-only mmcv build breaks on a GPU, and the import-time warning.
def mini_config(pattern: str) -> str:
    """The one mini config whose name matches (wherever configs/ keeps
    it)."""
    found = sorted(REPO.glob(f'configs/**/{pattern}.py'))
    assert len(found) == 1, (pattern, found)
    return str(found[0])


def test_compiled_ops_per_config_from_the_built_model():
    from veca_mm.utils.cuda_ops import CONFIG_CUDA_OPS, config_cuda_ops
    found = [config_cuda_ops(mini_config(p)) for p in (
        'mask-rcnn_veca-t_*mini-coco-*', 'mask2former_veca-t_*mini-ade20k-*',
        'upernet_veca-t_*_mini-ade20k-96x96')]
    assert found == [['RoIAlign', 'nms'], ['MultiScaleDeformableAttention'],
                     []]
    # the constant the import-time warning names is this union
    assert sorted(set().union(*found)) == sorted(CONFIG_CUDA_OPS)


def test_warns_once_on_a_gpu_with_cpu_only_ops(monkeypatch):
    import torch

    from veca_mm.utils import cuda_ops
    monkeypatch.setattr(cuda_ops, '_warned', False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    for version in ('13.0', None):  # CUDA ops, or no compiled ops at all
        monkeypatch.setattr(cuda_ops, 'mmcv_ops_cuda_version',
                            lambda v=version: v)
        assert not cuda_ops.warn_if_cpu_only_ops()
    monkeypatch.setattr(cuda_ops, 'mmcv_ops_cuda_version',
                        lambda: 'not available')
    with pytest.warns(cuda_ops.CpuOnlyOpsWarning) as record:
        assert cuda_ops.warn_if_cpu_only_ops()
        assert cuda_ops.warn_if_cpu_only_ops()  # no second warning
    assert len(record) == 1
    msg = str(record[0].message)
    assert 'MultiScaleDeformableAttention, RoIAlign, nms will fail' in msg
    assert '--list-configs' in msg
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(cuda_ops, '_warned', False)
    assert not cuda_ops.warn_if_cpu_only_ops()


def test_import_veca_mm_warns_with_this_cpu_build_on_a_faked_gpu():
    """This machine's real mmcv build (CPU ops) under a torch that claims
    a GPU: ``import veca_mm`` itself warns, once."""
    code = ('import warnings, torch\n'
            'torch.cuda.is_available = lambda: True\n'
            'with warnings.catch_warnings(record=True) as w:\n'
            '    warnings.simplefilter("always")\n'
            '    import veca_mm\n'
            'print(sum("CUDA: MultiScaleDeformableAttention" in str(x.message)'
            ' for x in w))\n')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == '1'
