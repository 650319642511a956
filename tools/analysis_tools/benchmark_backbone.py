# Copyright (c) veca_mm contributors. Apache-2.0.
"""Forward time and memory of a VECA backbone beside timm's dense ViT/16.

    python tools/analysis_tools/benchmark_backbone.py                # CPU fp32
    python tools/analysis_tools/benchmark_backbone.py --with-2048 --out b.json
    python tools/analysis_tools/benchmark_backbone.py --device cuda  # bf16, B=8

Every (model, size) case runs in a fresh subprocess, so one case's memory,
caches or thread pools never leak into another's. In each case:

1. build the model (random init: speed does not depend on the weights) and a
   random input, eval mode, ``torch.inference_mode``;
2. **memory**: one untimed forward. On CPU the number is the process's peak
   resident set size during that forward above its resident size just before
   it (Linux: ``VmHWM`` reset through ``/proc/self/clear_refs`` then read
   back, minus ``VmRSS``); it covers activations, allocator slack and the
   one-off buffers of the math libraries, not the weights or the input.
   Where ``clear_refs`` cannot be written it falls back to the growth of
   ``ru_maxrss``, which is only a lower bound (a peak under the build's peak
   does not show). On CUDA it is ``torch.cuda.max_memory_allocated`` minus
   the memory allocated before the forward (tensors only; the caching
   allocator's reserve is not counted);
3. ``--warmup`` more untimed forwards, then ``--repeats`` timed ones; the
   median is reported (CUDA: synchronised around each forward).

Defaults: CPU, fp32, batch 1. ``--device cuda``: bf16 autocast at
``--batch 8``. The ViT is ``timm.create_model(<vit>, pretrained=False,
dynamic_img_size=True, num_classes=0)`` timed through ``forward_features``
(patch embed + blocks + final norm; timm's fused SDPA attention); VECA is
``VECA(arch, core_budgets=budget, out_indices=-1)`` (final-normed
stride-16 map of the last layer).

``FLOP ratio`` = ViT FLOPs / VECA FLOPs from ``veca_mm/utils/flops.py``
(matrix products only, 1 multiply-add = 2 FLOPs); ``speedup`` = ViT time /
VECA time; ``speedup / FLOP ratio`` is the share of VECA's FLOP saving that
shows up as wall-clock time (1.0 = all of it).

``--released-factory MODULE:CALLABLE --released-dir DIR`` (UNTESTED: the
released package is not available here) adds DIR to ``sys.path``, imports
CALLABLE from MODULE, calls ``CALLABLE(model_family=<arch>, **<--released-
kwargs>)`` and times the returned ``nn.Module``'s ``forward(images)`` as a
third model, reported with VECA's FLOPs (assumed: same arch and budget).
"""
import argparse
import contextlib
import gc
import importlib
import json
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

RESULT_TAG = '@@BENCH_RESULT '
MODELS = ('veca', 'vit', 'released')


# ---------------------------------------------------------------------- #
# Worker side: one (model, size) case per process.
def _proc_status_kib(field: str):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False if we can't."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return _proc_status_kib('VmHWM') is not None
    except OSError:
        return False


def _maxrss_kib() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == 'darwin' else r  # bytes on macOS


def _build(model: str, args):
    """The module and the callable to time."""
    import torch
    if model == 'veca':
        from veca_mm.models.backbones.veca import VECA
        m = VECA(arch=args.arch, core_budgets=args.budget, out_indices=-1)
        m.init_weights()
        return m, m
    if model == 'vit':
        import timm
        m = timm.create_model(args.vit, pretrained=False,
                              dynamic_img_size=True, num_classes=0)
        return m, m.forward_features
    # released (untested): DIR on sys.path, MODULE:CALLABLE(model_family=...)
    if args.released_dir:
        sys.path.insert(0, osp.abspath(args.released_dir))
    mod_name, _, attr = args.released_factory.partition(':')
    obj = importlib.import_module(mod_name)
    for part in attr.split('.'):
        obj = getattr(obj, part)
    kwargs = json.loads(args.released_kwargs) if args.released_kwargs else {}
    m = obj(model_family=args.arch, **kwargs)
    if not isinstance(m, torch.nn.Module):
        raise TypeError(f'{args.released_factory} returned {type(m)}, not an '
                        'nn.Module')
    return m, m


def run_case(args, model: str, h: int, w: int) -> dict:
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device == 'cuda'
    batch = args.batch
    module, fn = _build(model, args)
    module.eval()
    if cuda:
        module.cuda()
    x = torch.randn(batch, 3, h, w, device=args.device)

    amp = (torch.autocast('cuda', dtype=torch.bfloat16) if cuda else
           contextlib.nullcontext())

    def forward():
        with torch.inference_mode(), amp:
            fn(x)
        if cuda:
            torch.cuda.synchronize()

    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        forward()
        mem = torch.cuda.max_memory_allocated() - base
        mem_how = 'cuda max_memory_allocated - allocated before forward'
        mem_total = torch.cuda.max_memory_allocated()
    elif _reset_peak_rss():
        base = _proc_status_kib('VmRSS')
        forward()
        mem = (_proc_status_kib('VmHWM') - base) * 1024
        mem_how = 'peak RSS (VmHWM) during forward - RSS before'
        mem_total = _proc_status_kib('VmHWM') * 1024
    else:
        base = _maxrss_kib()
        forward()
        mem = (_maxrss_kib() - base) * 1024
        mem_how = 'ru_maxrss growth over forward (lower bound)'
        mem_total = _maxrss_kib() * 1024

    for _ in range(args.warmup):
        forward()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        forward()
        times.append(time.perf_counter() - t0)

    profile = None
    if args.profile:
        from torch.profiler import ProfilerActivity, profile as tprofile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                         if cuda else [])
        with tprofile(activities=acts) as prof:
            forward()
        key = 'self_cuda_time_total' if cuda else 'self_cpu_time_total'
        profile = prof.key_averages().table(sort_by=key,
                                            row_limit=args.profile)
    return dict(model=model, size=[h, w], batch=batch, device=args.device,
                dtype='bf16-autocast' if cuda else 'fp32',
                threads=torch.get_num_threads(), times_s=times,
                median_s=statistics.median(times), mem_bytes=mem,
                mem_peak_total_bytes=mem_total, mem_method=mem_how,
                params=sum(p.numel() for p in module.parameters()),
                profile=profile)


# ---------------------------------------------------------------------- #
# Driver side.
def flop_counts(args, h: int, w: int) -> dict:
    from veca_mm.models.backbones.veca import ARCH_SETTINGS
    from veca_mm.utils.flops import VIT_ARCHS, veca_flops, vit_flops
    v = VIT_ARCHS[args.vit]
    return dict(
        veca=veca_flops(ARCH_SETTINGS[args.arch], h, w, args.budget)['total'],
        vit=vit_flops(v['embed_dims'], v['depth'], v['mlp_ratio'], h,
                      w)['total'])


def spawn_case(argv, model: str, h: int, w: int) -> dict:
    cmd = [sys.executable, osp.abspath(__file__), *argv, '--_case', model,
           str(h), str(w)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = '\n'.join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
    print(f'[{model} {h}x{w}] failed (exit {proc.returncode}):\n{tail}',
          file=sys.stderr)
    return dict(model=model, size=[h, w], error=tail or
                f'exit {proc.returncode}')


def markdown(args, results) -> str:
    lines = [
        '| size | patches N | model | median ms | img/s | speedup vs ViT | '
        'FLOP ratio ViT/VECA | speedup / FLOP ratio | GFLOPs/img | '
        'peak mem (MiB) | MiB per 1k patches |',
        '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|'
    ]
    names = dict(veca=f'VECA-{args.arch} (C={args.budget})', vit=args.vit,
                 released=f'released VECA-{args.arch}')
    sizes = sorted({tuple(r['size']) for r in results},
                   key=lambda s: (s[0] * s[1], s))
    for size in sizes:
        rows = {r['model']: r for r in results if tuple(r['size']) == size}
        fl = flop_counts(args, *size)
        n = -(-size[0] // 16) * -(-size[1] // 16)
        vit_t = rows.get('vit', {}).get('median_s')
        for model in MODELS:
            if model not in rows:
                continue
            r = rows[model]
            head = f'| {size[0]}x{size[1]} | {n} | {names[model]} '
            if 'error' in r:
                lines.append(head + '| error |' + ' |' * 7)
                continue
            t = r['median_s']
            gfl = fl['vit' if model == 'vit' else 'veca']
            ratio = fl['vit'] / fl['veca']
            if model == 'vit':
                sp, rat, eff = '1.00', '1.00', '-'
            elif vit_t:
                sp, rat = f'{vit_t / t:.2f}', f'{ratio:.2f}'
                eff = f'{vit_t / t / ratio:.2f}'
            else:
                sp, rat, eff = '-', f'{ratio:.2f}', '-'
            mib = r['mem_bytes'] / 2**20
            lines.append(
                head + f'| {t * 1e3:,.1f} | {r["batch"] / t:.2f} | {sp} | '
                f'{rat} | {eff} | {gfl / 1e9:,.1f} | {mib:,.1f} | '
                f'{mib / n * 1000 / r["batch"]:.1f} |')
    return '\n'.join(lines)


def parse_args(argv=None):
    from veca_mm.models.backbones.veca import ARCH_SETTINGS
    from veca_mm.utils.flops import VECA_TO_VIT, VIT_ARCHS
    p = argparse.ArgumentParser(
        description='Median forward time and peak memory of VECA vs a dense '
        'ViT/16 (see the module docstring for what is measured).')
    p.add_argument('--arch', default='base', choices=sorted(ARCH_SETTINGS))
    p.add_argument('--budget', type=int, default=64, help='core budget C')
    p.add_argument('--vit', default=None, choices=sorted(VIT_ARCHS),
                   help='timm dense ViT (default: same width as --arch)')
    p.add_argument('--sizes', type=int, nargs='+', default=[512, 1024],
                   help='square input sizes')
    p.add_argument('--with-2048', action='store_true',
                   help='also run 2048x2048 (slow and memory-hungry for the '
                   'dense ViT)')
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1,
                   help='untimed forwards after the (untimed) memory one')
    p.add_argument('--threads', type=int, default=None,
                   help='torch.set_num_threads in every case')
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--batch', type=int, default=None,
                   help='default 1 on CPU, 8 on CUDA')
    p.add_argument('--models', nargs='+', default=['veca', 'vit'],
                   choices=['veca', 'vit'], help='which of the two to run')
    p.add_argument('--released-factory', default=None,
                   metavar='MODULE:CALLABLE',
                   help='UNTESTED: time the released model too; called as '
                   'CALLABLE(model_family=ARCH, **released_kwargs)')
    p.add_argument('--released-dir', default=None,
                   help='directory added to sys.path for --released-factory')
    p.add_argument('--released-kwargs', default=None, metavar='JSON',
                   help='extra keyword arguments for the factory, as JSON')
    p.add_argument('--profile', type=int, default=0, metavar='ROWS',
                   help='also print the top ROWS ops (torch.profiler, self '
                   'time) of one extra forward per case')
    p.add_argument('--out', default=None, help='save the results as JSON')
    p.add_argument('--_case', nargs=3, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    bank = ARCH_SETTINGS[args.arch]['num_cores']
    if args.budget < 8 or args.budget % 8 or args.budget > bank:
        p.error(f'--budget {args.budget}: use a multiple of 8 in [8, {bank}]')
    if args.released_factory and ':' not in args.released_factory:
        p.error('--released-factory must look like MODULE:CALLABLE')
    if args.repeats < 1 or args.warmup < 0:
        p.error('--repeats must be >= 1 and --warmup >= 0')
    args.vit = args.vit or VECA_TO_VIT[args.arch]
    if args.batch is None:
        args.batch = 8 if args.device == 'cuda' else 1
    if args.with_2048 and 2048 not in args.sizes:
        args.sizes = args.sizes + [2048]
    return args


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args._case:  # worker
        model, h, w = args._case[0], int(args._case[1]), int(args._case[2])
        print(RESULT_TAG + json.dumps(run_case(args, model, h, w)),
              flush=True)
        return
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            sys.exit('--device cuda: no CUDA device is available')
    models = list(args.models) + (['released'] if args.released_factory
                                  else [])
    load0 = os.getloadavg() if hasattr(os, 'getloadavg') else None
    results = []
    for s in args.sizes:
        for model in models:
            r = spawn_case(argv, model, s, s)
            results.append(r)
            if r.get('profile'):
                print(f'\n## profile: {model} {s}x{s}\n{r["profile"]}')
            if 'error' not in r:
                print(f'  {model:8s} {s}x{s}: median '
                      f'{r["median_s"] * 1e3:,.1f} ms', file=sys.stderr)
    load1 = os.getloadavg() if hasattr(os, 'getloadavg') else None
    import torch
    ok = [r for r in results if 'error' not in r]
    dev = (torch.cuda.get_device_name() if args.device == 'cuda' else
           (platform.processor() or platform.machine()))
    print(f'\n# {args.device} ({dev}), '
          f'{ok[0]["dtype"] if ok else "?"}, batch {args.batch}, '
          f'threads {ok[0]["threads"] if ok else "?"}, torch '
          f'{torch.__version__}; median of {args.repeats} after '
          f'{args.warmup + 1} warm-up; load avg {load0} -> {load1}\n')
    print(markdown(args, results))
    if ok:
        print(f'\npeak mem = {ok[0]["mem_method"]}. FLOP ratio = ViT / VECA '
              'FLOPs (veca_mm.utils.flops); speedup = ViT / VECA median time.')
    if args.out:
        meta = {k: v for k, v in vars(args).items() if k != '_case'}
        with open(args.out, 'w') as f:
            json.dump(dict(args=meta, torch=torch.__version__, device=dev,
                           loadavg=[load0, load1], results=results), f,
                      indent=1)
        print(f'saved {args.out}')


if __name__ == '__main__':
    main()
