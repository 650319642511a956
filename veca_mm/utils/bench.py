# Copyright (c) veca_mm contributors. Apache-2.0.
"""What the benchmark tools share: one case per child process, its peak
memory, out-of-memory as a result, and a description of the CPU.

A benchmark runs every case in a fresh process (``spawn_case``) so that one
case's memory, caches and thread pools never leak into the next, under
``RLIMIT_AS`` on CPU so that running out of memory is a ``MemoryError`` in
the child (a reported result) rather than the system's OOM killer. The child
prints its result as one tagged JSON line (``print_result``), which the
parent reads back.
"""
import contextlib
import json
import os
import os.path as osp
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Optional, Sequence

__all__ = [
    'RESULT_TAG', 'DTYPES', 'print_result', 'read_result', 'run_if_case',
    'spawn_case',
    'is_oom', 'oom_as_result', 'status_text', 'gib', 'proc_status_kib', 'reset_peak_rss',
    'peak_rss_bytes', 'measure_peak_rss', 'cpu_report', 'autocast',
    'cast_weights'
]

RESULT_TAG = '@@BENCH_RESULT '
DTYPES = dict(fp32='float32', bf16='bfloat16', fp16='float16')
OOM_MARKERS = ('out of memory', "can't allocate memory",
               'cannot allocate memory', 'bad_alloc', 'failed to allocate')
CPU_FEATURES = ('amx_bf16', 'amx_fp16', 'amx_tile', 'avx512_bf16',
                'avx512_fp16', 'avx512f', 'avx2')


# ---------------------------------------------------------------------- #
# Child side.
def print_result(res: dict) -> None:
    """The child's result: one tagged JSON line on stdout."""
    print(RESULT_TAG + json.dumps(res), flush=True)


def run_if_case(args, run_case: Callable[[object, dict], dict]) -> bool:
    """In a case process (``args._case`` set by ``spawn_case``): run the
    case, print its result line and return True; else False."""
    if not getattr(args, '_case', None):
        return False
    print_result(run_case(args, json.loads(args._case)))
    return True


def read_result(stdout: str) -> Optional[dict]:
    """The tagged result line of a child's stdout, or None."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    return None


def autocast(dtype: str, device: str = 'cpu'):
    """``torch.autocast`` for ``'bf16'``/``'fp16'``; nothing for fp32."""
    import torch
    if dtype == 'fp32':
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=getattr(torch, DTYPES[dtype]))


@contextlib.contextmanager
def cast_weights(model, dtype: str, train: bool = False):
    """For the inference steps inside: every VECA in ``model`` casts its
    linear weights to ``dtype`` once (``VECA.cast_weights``) instead of
    autocast casting them in every forward. Nothing for fp32 or training."""
    import torch
    with contextlib.ExitStack() as stack:
        if dtype != 'fp32' and not train:
            for m in model.modules():
                if callable(getattr(m, 'cast_weights', None)):
                    stack.enter_context(
                        m.cast_weights(getattr(torch, DTYPES[dtype])))
        yield


def is_oom(exc: BaseException) -> bool:
    """Whether an exception means the process ran out of memory."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(
        m in str(exc).lower() for m in OOM_MARKERS)


@contextlib.contextmanager
def oom_as_result(res: dict, peak: Optional[Callable[[], int]] = None):
    """Running out of memory inside the block is a result: ``res`` gets
    ``status='oom'``, the error's first line and the peak (``peak()``, by
    default this process's peak resident set); anything else propagates."""
    try:
        yield res
    except BaseException as exc:  # noqa: B902 - classify, then report
        if not is_oom(exc):
            raise
        res.update(status='oom', error=str(exc).strip().splitlines()[0][:300],
                   peak_bytes=(peak or peak_rss_bytes)())


# ---------------------------------------------------------------------- #
# Peak memory of this process (Linux VmHWM, else getrusage's ru_maxrss).
def proc_status_kib(field: str) -> Optional[int]:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``...)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False if we can't."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return proc_status_kib('VmHWM') is not None
    except OSError:
        return False


def _maxrss_kib() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == 'darwin' else r  # bytes on macOS


def peak_rss_bytes() -> int:
    """This process's peak resident set (since the last reset)."""
    return (proc_status_kib('VmHWM') or _maxrss_kib()) * 1024


def measure_peak_rss(step: Callable[[], object]) -> dict:
    """Run ``step`` once; its peak resident set above the one before it.

    Returns ``mem_bytes`` (the growth), ``mem_peak_total_bytes`` and
    ``mem_method``. With a resettable ``VmHWM`` the peak is the step's own;
    otherwise ``ru_maxrss`` (the process's lifetime peak) gives a lower
    bound of the growth.
    """
    if reset_peak_rss():
        base = proc_status_kib('VmRSS')
        step()
        peak = proc_status_kib('VmHWM')
        return dict(mem_bytes=(peak - base) * 1024,
                    mem_peak_total_bytes=peak * 1024,
                    mem_method='peak RSS (VmHWM) during the step - RSS '
                    'before')
    base = _maxrss_kib()
    step()
    peak = _maxrss_kib()
    return dict(mem_bytes=(peak - base) * 1024,
                mem_peak_total_bytes=peak * 1024,
                mem_method='ru_maxrss growth over the step (lower bound)')


# ---------------------------------------------------------------------- #
# Parent side.
def _wait(proc, timeout: Optional[float]):
    """wait4 on ``proc`` (its own peak RSS, even when killed), killing its
    process group after ``timeout`` s or when the parent is stopped."""
    timed_out = []

    def kill():
        timed_out.append(True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # the driver is stopped: stop the case too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        if timer:
            timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage, bool(timed_out)


def _run_child(cmd: Sequence[str], limit: int, timeout: Optional[float],
               env: Optional[dict]):
    """(stdout, stderr, returncode, usage, timed out, wall seconds)."""
    def preexec():
        os.setsid()  # its own process group: a timeout kills all of it
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile('w+') as out, \
            tempfile.TemporaryFile('w+') as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True,
                                preexec_fn=preexec, env=env)
        usage, timed_out = _wait(proc, timeout)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return (out.read(), err.read(), proc.returncode, usage, timed_out,
                wall)


def spawn_case(script: str, argv: Sequence[str], case: dict,
               mem_limit_gb: float = 0., case_timeout: float = None,
               cuda: bool = False, env: Optional[dict] = None) -> dict:
    """Run ``python SCRIPT ARGV --_case CASE`` in a fresh process under
    ``RLIMIT_AS`` (CPU only: CUDA needs a huge address space) and read back
    the result line it prints (``print_result``). An out-of-memory or a
    timeout is a result; any other failure a ``status='error'`` row."""
    cmd = [sys.executable, osp.abspath(script), *argv, '--_case',
           json.dumps(case)]
    limit = int(mem_limit_gb * 2**30) if mem_limit_gb and not cuda else 0
    stdout, stderr, rc, usage, timed_out, wall = _run_child(
        cmd, limit, case_timeout, env)
    res = read_result(stdout)
    if res is None:
        res = dict(case, peak_bytes=usage.ru_maxrss * 1024, wall_s=wall)
        if timed_out:
            res.update(status='timeout',
                       error=f'timed out: stopped after {case_timeout:g} s')
        elif rc == -signal.SIGKILL:
            res.update(status='oom', error='killed by SIGKILL (the system '
                       'OOM killer?)')
        else:
            tail = '\n'.join(stderr.strip().splitlines()[-8:])
            res.update(status='error', error=tail or f'exit {rc}')
            if any(m in stderr.lower() for m in OOM_MARKERS):
                res['status'] = 'oom'
    if res['status'] == 'oom' and limit:
        res['limit_bytes'] = limit
    return res


def gib(b) -> str:
    return f'{b / 2**30:.1f} GiB'


def status_text(r: dict) -> str:
    """A table cell for a case that did not finish."""
    if r['status'] == 'oom':
        if not r.get('limit_bytes'):  # CUDA, or no RLIMIT_AS
            return f'out of memory at {gib(r.get("peak_bytes", 0))}'
        peak = (f'; peak RSS {gib(r["peak_bytes"])}'
                if r.get('peak_bytes') else '')
        return (f'out of memory at {gib(r["limit_bytes"])} (address-space '
                f'limit{peak})')
    if r['status'] == 'skipped':
        return r['reason']
    if r['status'] == 'timeout':
        return r['error']
    return 'error'


def _cpuinfo_field(name: str) -> Optional[str]:
    """The first ``/proc/cpuinfo`` line starting with ``name``, its value."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith(name):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_report() -> dict:
    """The CPU's name, which low-precision features it has (and lacks),
    and what this torch build does with them."""
    import torch
    flags = set((_cpuinfo_field('flags') or '').split())
    name = (_cpuinfo_field('model name') or platform.processor()
            or platform.machine())
    return dict(cpu=name, features=[f for f in CPU_FEATURES if f in flags],
                missing=[f for f in CPU_FEATURES if f not in flags],
                torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
                mkldnn=torch.backends.mkldnn.is_available(),
                cores=os.cpu_count())
