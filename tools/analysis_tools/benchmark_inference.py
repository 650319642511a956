# Copyright (c) veca_mm contributors. Apache-2.0.
"""Forward time of a VECA backbone: eager vs ``torch.compile``, fp32 vs bf16.

    python tools/analysis_tools/benchmark_inference.py [--arch base]
        [--sizes 512 1024] [--core-budget 64] [--repeats 5]
        [--modes eager compiled eager-bf16 compiled-bf16] [--mem-gib 12]
        [--threads N]

Each mode runs in its own child process under ``RLIMIT_AS`` (a MemoryError
there, never the system OOM killer), batch 1, ``torch.no_grad``; time is the
median of ``--repeats`` forwards after two warm-up ones (which include the
compile). bf16 is CPU autocast (``torch.autocast('cpu', torch.bfloat16)``),
as ``tools/test.py --dtype bf16``. Prints a table with ratios to eager fp32
and the CPU flags that decide whether bf16 pays (avx512_bf16, amx_bf16).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODES = ('eager', 'compiled', 'eager-bf16', 'compiled-bf16')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='base')
    p.add_argument('--sizes', type=int, nargs='+', default=[512, 1024])
    p.add_argument('--core-budget', type=int, default=64)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--modes', nargs='+', choices=MODES, default=list(MODES))
    p.add_argument('--mem-gib', type=float, default=12.)
    p.add_argument('--threads', type=int, default=0,
                   help='torch threads (0: torch\'s default). On a shared '
                   'machine use 1: OpenMP spin-waits under load make 2 '
                   'threads many times slower than 1')
    p.add_argument('--child', nargs=2, metavar=('MODE', 'SIZE'),
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


def cpu_flags():
    try:
        with open('/proc/cpuinfo') as f:
            flags = next(line for line in f if line.startswith('flags'))
    except (OSError, StopIteration):
        return []
    return sorted(set(flags.split(':', 1)[1].split()) & {
        'avx512_bf16', 'amx_bf16', 'amx_tile', 'amx_int8', 'avx512f'})


def child(args, mode, size):
    import resource
    limit = int(args.mem_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, ROOT)
    import torch
    from veca_mm.models.backbones import VECA
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = VECA(arch=args.arch, patch_size=16, out_indices=(-1, ),
                 core_budgets=args.core_budget, init_cfg=None).eval()
    model.init_weights()
    run = torch.compile(model) if mode.startswith('compiled') else model
    x = torch.randn(1, 3, size, size)
    bf16 = mode.endswith('bf16')
    times = []
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16,
                                         enabled=bf16):
        t0 = time.perf_counter()
        run(x)
        first = time.perf_counter() - t0
        run(x)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - t0)
        out = run(x)[-1].float() if bf16 else None
    rel_err = None
    if bf16:  # relative L2 error of the last feature map vs eager fp32
        with torch.no_grad():
            ref = model(x)[-1]
        rel_err = float((out - ref).norm() / ref.norm())
    print(json.dumps(dict(mode=mode, size=size, median=statistics.median(
        times), first=first, threads=torch.get_num_threads(),
        rel_err=rel_err)))


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args, args.child[0], int(args.child[1]))
    env = dict(os.environ, TORCHINDUCTOR_COMPILE_THREADS='1')
    rows = {}
    for size in args.sizes:
        for mode in args.modes:
            cmd = [sys.executable, osp.abspath(__file__), '--child', mode,
                   str(size), '--arch', args.arch, '--core-budget',
                   str(args.core_budget), '--repeats', str(args.repeats),
                   '--mem-gib', str(args.mem_gib), '--threads',
                   str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env=env)
            lines = [line for line in out.stdout.splitlines()
                     if line.startswith('{')]
            if out.returncode or not lines:
                print(f'{mode} at {size}: failed\n{out.stderr[-2000:]}')
                continue
            rows[(mode, size)] = json.loads(lines[-1])
            r = rows[(mode, size)]
            print(f'  {mode:>14} {size:>5}px: {r["median"]:.3f} s '
                  f'(first call {r["first"]:.1f} s)', flush=True)
    print(f'\nVECA-{args.arch} C={args.core_budget}, batch 1, '
          f'{next(iter(rows.values()))["threads"] if rows else "?"} '
          f'threads; CPU flags: {" ".join(cpu_flags()) or "none"}')
    print('| size | mode | forward (s) | speed-up vs eager fp32 | '
          'first call (s) | rel. error vs fp32 |')
    print('|---|---|---|---|---|---|')
    for size in args.sizes:
        base = rows.get(('eager', size))
        for mode in args.modes:
            r = rows.get((mode, size))
            if r is None:
                continue
            ratio = f'{base["median"] / r["median"]:.2f}x' if base else '-'
            err = '-' if r.get('rel_err') is None else f'{r["rel_err"]:.1e}'
            print(f'| {size} | {mode} | {r["median"]:.3f} | {ratio} | '
                  f'{r["first"]:.1f} | {err} |')
    return rows


if __name__ == '__main__':
    main()
