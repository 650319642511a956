# Copyright (c) veca_mm contributors. Apache-2.0.
"""Which mmcv ops ``tools/setup_env.sh`` builds: CUDA, CPU, or stop.

    .venv/bin/python tools/setup_decide.py          # prints "KIND TAG"
    .venv/bin/python tools/setup_decide.py --list-configs [configs]

Run with the venv's python once torch is installed (stdlib + torch only:
mmcv, mmengine and veca_mm are not there yet). It prints one line,
``KIND TAG``: ``cuda`` (torch sees a GPU, or ``FORCE_CUDA=1``, and the CUDA
toolkit torch's extension builder will use has torch's CUDA major version),
``cpu`` (torch sees no GPU: the CPU build) or ``cpu-on-gpu`` (a GPU without a
matching toolkit, and ``VECA_ACCEPT_CPU_OPS=1``); ``TAG`` names the wheel
cache directory. A GPU without a matching toolkit and without that variable
stops here (exit 3) with one message on stderr that names what is missing
and the two ways out, before the long mmcv build.

``--list-configs`` (needs the whole stack, run at the end of the set-up)
prints the configs whose mmcv ops will not run on the GPU with CPU-only ops.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

STOP = 3
ACCEPT_VAR = 'VECA_ACCEPT_CPU_OPS'
RELEASE = re.compile(r'release (\d+)\.(\d+)')


def log(msg: str) -> None:
    print(f'[setup {time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr)


def probe_torch() -> dict:
    """What torch (the venv's) sees, and the toolkit its extension builder
    (which builds mmcv) would use: ``torch.utils.cpp_extension.CUDA_HOME``."""
    import contextlib
    import io

    import torch
    with contextlib.redirect_stderr(io.StringIO()):  # its CUDA_HOME notes
        from torch.utils import cpp_extension
    state = dict(torch=torch.__version__.split('+')[0],
                 torch_cuda=torch.version.cuda,
                 python='%d%d' % sys.version_info[:2],
                 cuda_available=bool(torch.cuda.is_available()),
                 device_name=None, capability=None,
                 cuda_home=getattr(cpp_extension, 'CUDA_HOME', None))
    if state['cuda_available']:
        state['device_name'] = torch.cuda.get_device_name(0)
        state['capability'] = tuple(torch.cuda.get_device_capability(0))
    return state


def nvcc_release(cuda_home):
    """``(major, minor)`` of ``CUDA_HOME/bin/nvcc``, or None."""
    if not cuda_home:
        return None
    nvcc = os.path.join(cuda_home, 'bin', 'nvcc')
    if not os.access(nvcc, os.X_OK):
        return None
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = RELEASE.search(out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def gpus_seen_by_driver(env) -> int:
    """GPUs ``nvidia-smi -L`` lists (0 without nvidia-smi)."""
    smi = shutil.which('nvidia-smi', path=env.get('PATH', os.defpath))
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, '-L'], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith('GPU ') for line in out.splitlines())


def wheel_tag(state: dict, kind: str, env) -> str:
    """The wheel cache directory: CUDA wheels also by CUDA version and the
    GPU architectures they hold kernels for."""
    tag = f'torch{state["torch"]}-py{state["python"]}'
    if kind != 'cuda':
        return tag + '-cpu'
    archs = env.get('TORCH_CUDA_ARCH_LIST') or (
        '%d.%d' % tuple(state['capability']) if state['capability']
        else 'all')
    archs = re.sub(r'[^0-9A-Za-z.+]+', '_', archs.strip()).strip('_')
    return f'{tag}-cuda{state["torch_cuda"]}-arch{archs}'


def _missing_toolkit(state: dict, release) -> str:
    """What is wrong with the toolkit, in words; '' if nothing."""
    want = str(state['torch_cuda']).split('.')[0]
    home = state['cuda_home']
    if not home:
        return ('no CUDA toolkit was found (torch looks at CUDA_HOME, '
                'CUDA_PATH, nvcc on PATH, /usr/local/cuda)')
    if release is None:
        return f'CUDA_HOME={home} has no working bin/nvcc'
    if str(release[0]) != want:
        return (f'{home}/bin/nvcc is CUDA {release[0]}.{release[1]} and '
                f'torch {state["torch"]} was built with CUDA '
                f'{state["torch_cuda"]} (the major versions must match)')
    return ''


def _stop_message(state: dict, why: str, forced: bool) -> str:
    seen = ('FORCE_CUDA=1 asks for CUDA ops' if forced else
            f'torch {state["torch"]} sees a CUDA GPU '
            f'({state["device_name"]})')
    major = str(state['torch_cuda']).split('.')[0]
    second = ('unset FORCE_CUDA for the CPU build' if forced else
              f'or accept mmcv ops that run on the CPU only: {ACCEPT_VAR}=1 '
              'make setup. The configs that call them (RoIAlign, nms, '
              'deformable attention) then fail on the GPU; the set-up lists '
              'them at the end (docs/gpu.md)')
    return (f'STOP before building mmcv: {seen}, but {why}. mmcv\'s compiled '
            f'ops must be built by a CUDA {major}.x nvcc to run on the GPU. '
            'Two ways out:\n'
            f'  1. install the CUDA {major}.x toolkit (NVIDIA\'s installer, '
            f'or conda\'s cuda-toolkit={major}.*; it must provide bin/nvcc) '
            'and rerun with CUDA_HOME pointing at it: CUDA_HOME=/path/to/'
            'cuda make setup\n'
            f'  2. {second}.')


def decide(state: dict, env) -> tuple:
    """``(kind, tag, message)``: kind is ``cuda``, ``cpu``, ``cpu-on-gpu``
    or ``stop`` (then the message says why and what to do)."""
    forced = env.get('FORCE_CUDA') == '1'
    gpu = state['cuda_available']
    if not gpu and not forced:
        msg = 'torch sees no CUDA device: building mmcv\'s CPU ops'
        n = gpus_seen_by_driver(env)
        if n:
            msg += (f'. WARNING: nvidia-smi lists {n} GPU(s) that torch '
                    f'{state["torch"]} (CUDA {state["torch_cuda"]}) cannot '
                    'use (is the driver older than that CUDA?); fix that and '
                    'rerun make setup to build the CUDA ops')
        return 'cpu', wheel_tag(state, 'cpu', env), msg
    if not state['torch_cuda']:
        return 'stop', '', (f'STOP: FORCE_CUDA=1, but torch {state["torch"]}'
                            ' is a CPU-only build: install its CUDA build or '
                            'unset FORCE_CUDA.')
    release = nvcc_release(state['cuda_home'])
    why = _missing_toolkit(state, release)
    if not why:
        return 'cuda', wheel_tag(state, 'cuda', env), (
            f'building mmcv\'s CUDA ops (FORCE_CUDA=1) with '
            f'{state["cuda_home"]}/bin/nvcc {release[0]}.{release[1]} for '
            f'torch {state["torch"]} (CUDA {state["torch_cuda"]})')
    if gpu and not forced and env.get(ACCEPT_VAR) == '1':
        return 'cpu-on-gpu', wheel_tag(state, 'cpu', env), (
            f'{ACCEPT_VAR}=1: building CPU-only mmcv ops on a GPU machine '
            f'({why}); the configs that need them on the GPU are listed at '
            'the end')
    return 'stop', '', _stop_message(state, why, forced)


def list_configs(paths) -> int:
    """Print the configs whose mmcv ops need CUDA kernels (full stack)."""
    from veca_mm.utils.cuda_ops import configs_needing_cuda_ops
    found = configs_needing_cuda_ops(paths)
    if not found:
        print('every config runs on the GPU with CPU-only mmcv ops')
    for path, ops in found.items():
        print(f'  {os.path.relpath(path)}: {", ".join(ops)} will fail on the '
              'GPU')
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--list-configs', nargs='*', metavar='PATH',
                   help='list the configs (files or directories; default: '
                   'configs/) that need mmcv\'s CUDA ops')
    args = p.parse_args(argv)
    if args.list_configs is not None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return list_configs(args.list_configs
                            or [os.path.join(root, 'configs')])
    kind, tag, msg = decide(probe_torch(), os.environ)
    log(msg)
    if kind == 'stop':
        return STOP
    print(kind, tag)
    return 0


if __name__ == '__main__':
    sys.exit(main())
