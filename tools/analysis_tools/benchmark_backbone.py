# Copyright (c) veca_mm contributors. Apache-2.0.
"""Time and memory of a VECA backbone beside the plain-ViT anchors people
actually use: timm's dense ViT/16 and a ViTDet-style windowed ViT.

    python tools/analysis_tools/benchmark_backbone.py --sizes 512 1024 2048
    python tools/analysis_tools/benchmark_backbone.py --dtype fp32 bf16 \\
        --sizes 1024 2048 --rounds 5 --repeats 1 --out bench.json
    python tools/analysis_tools/benchmark_backbone.py --train --sizes 512 1024
    python tools/analysis_tools/benchmark_backbone.py --with-4096
    python tools/analysis_tools/benchmark_backbone.py --device cuda \\
        --dtype fp32 bf16 fp16 --batch-size 1 8 --sizes 512 1024 2048
    python tools/analysis_tools/benchmark_backbone.py --models veca \\
        --compile --dtype fp32 bf16 --rel-error --sizes 512 1024

Models (``--models``):

* ``veca``: ``VECA(arch, core_budgets=C, out_indices=-1)``: the final-normed
  stride-16 map of the last layer. With ``--train`` also ``veca-cp``, the
  same with ``with_cp=True`` (activation checkpointing). With ``--compile``
  also ``veca-compile``: ``torch.compile(VECA)`` (inductor unless another
  backend is named, static shapes).
* ``vit``: dense global attention, ``timm.create_model(<vit>,
  dynamic_img_size=True, num_classes=0).forward_features`` (fused SDPA).
* ``vitdet``: the ViTDet-style windowed ViT, timm's SAM image encoder
  (``samvit_base_patch16`` for VECA-B: 14x14 windows, global attention in
  blocks 2/5/8/11, decomposed relative positions) built at the image size,
  with ``neck_chans=0`` so that its output is, like the others', the
  final-normed stride-16 map (no 256-channel SAM neck). mmdet's
  ``projects/ViTDet`` ViT is the same design but is not in the mmdet wheel.

Every case (model x size x dtype x batch x round) runs in a fresh subprocess
under ``RLIMIT_AS`` (``--mem-limit-gb``, CPU only: CUDA needs a huge
virtual address space), so one case's memory, caches or thread pools never
leak into another's, and a case that runs out of memory is a *result*
("out of memory at X GiB"), not a lost table. A case that fails for any other
reason makes the tool exit non-zero. ``--rounds R`` repeats the whole list of
cases R times, interleaved (the models of one size follow each other), and
reports the median over the rounds of each case's median: on a shared,
noisy machine that is the number to quote.

In each case: build (random init: speed does not depend on the weights),
random input; one untimed forward for **memory** (CPU: the peak resident set
during it above the resident set before it, Linux ``VmHWM`` reset through
``/proc/self/clear_refs``; CUDA: ``max_memory_allocated`` above the
allocation before it); ``--warmup`` more, then ``--repeats`` timed ones.
The memory step's wall time is the "first call" column: a ``--compile`` row
pays its compilation there. ``--rel-error`` adds, for each low-precision
row, the relative L2 error of the last output against the same model in
fp32.
``--train`` times forward + backward (a mean over the outputs as the loss)
in train mode instead of an inference forward. Non-fp32 dtypes run under
``torch.autocast``.

FLOPs: every model counted the same way, ``torch.utils.flop_counter.
FlopCounterMode`` over one forward (``--train``: forward + backward) on a
weightless meta-device copy, attention kernels included. ``speedup`` =
anchor time / model time (with ``--rounds``: the median of the per-round
speedups, each round's cases being neighbours in time); ``FLOP ratio`` =
anchor FLOPs / model FLOPs;
``speedup / FLOP ratio`` is the share of the FLOP saving that shows up as
wall-clock time (1.0 = all of it).

``--with-4096`` adds 4096x4096 (65,536 patches). The anchors are not run
above 2048x2048 unless ``--measure-large-anchors``: they are reported as
"skipped: would need ~X GiB / ~Y s", extrapolated from their largest
measured size in the same run (time by the FLOP ratio, memory by the growth
exponent between their two largest sizes).

``--released-factory MODULE:CALLABLE --released-dir DIR`` (UNTESTED: the
released package is not available here) times a third VECA implementation,
``CALLABLE(model_family=<arch>, **<--released-kwargs>)``, with VECA's FLOPs.
"""
import argparse
import gc
import importlib
import json
import math
import os
import os.path as osp
import signal
import statistics
import sys
import time

from veca_mm.utils.bench import (DTYPES, autocast, cast_weights, cpu_report,
                                 gib, measure_peak_rss, oom_as_result,
                                 run_if_case, spawn_case, status_text)
from veca_mm.utils.cli import parse_size

ANCHORS = ('vit', 'vitdet')
MODEL_ORDER = ('veca', 'veca-cp', 'veca-compile', 'released', 'vit',
               'vitdet')
# Rows that run VECA's own graph: their FLOPs are VECA's.
SAME_FLOPS_AS_VECA = ('released', 'veca-compile')
# The windowed (ViTDet-style) ViT of the same width as each VECA family.
VECA_TO_VITDET = dict(base='samvit_base_patch16',
                      large='samvit_large_patch16')
# Above this many patches (2048x2048) the anchors are extrapolated, not run,
# unless --measure-large-anchors.
LARGE_PATCHES = 128 * 128


# ---------------------------------------------------------------------- #
# Models (worker and FLOP counting).
def build_model(name: str, args, h: int, w: int):
    """The module and the callable to time (random init)."""
    import torch
    if name in ('veca', 'veca-cp', 'veca-compile'):
        from veca_mm.models.backbones.veca import VECA
        m = VECA(arch=args.arch, core_chunk=args.core_chunk,
                 core_budgets=args.budget, out_indices=-1,
                 with_cp=name == 'veca-cp')
        if name == 'veca-compile':
            # the untimed memory step pays the compilation
            return m, torch.compile(m, dynamic=False, backend=args.compile)
        return m, m
    if name == 'vit':
        import timm
        m = timm.create_model(args.vit, pretrained=False,
                              dynamic_img_size=True, num_classes=0)
        return m, m.forward_features
    if name == 'vitdet':
        import timm
        m = timm.create_model(args.vitdet, pretrained=False,
                              img_size=(h, w), num_classes=0, neck_chans=0)
        return m, m.forward_features
    return build_released(args)


def build_released(args):
    """UNTESTED: ``MODULE:CALLABLE(model_family=ARCH, **kwargs)`` of the
    released package, with ``--released-dir`` (the user's checkout of it,
    not a tool folder) on ``sys.path``."""
    import torch
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


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def count_flops(name: str, args, h: int, w: int) -> int:
    """FlopCounterMode FLOPs of one image (forward, or forward + backward
    with ``--train``) on a meta-device copy: no memory, no time."""
    import torch
    from veca_mm.utils.flops import measured_flops
    model = 'veca' if name in SAME_FLOPS_AS_VECA else name
    with torch.device('meta'):
        module, fn = build_model(model, args, h, w)
        module.train(args.train)
        x = torch.empty(1, 3, h, w)

        def run():
            if args.train:
                sum(o.float().mean() for o in _flat(fn(x))).backward()
            else:
                with torch.no_grad():
                    fn(x)
        return measured_flops(run)


# ---------------------------------------------------------------------- #
# Worker side: one case per process.
def profile_summary(prof, cuda: bool) -> dict:
    """Self time per op class: GEMM, attention, copy/cast, elementwise,
    norm/softmax, other (ms and share of the total)."""
    classes = dict(
        gemm=('addmm', 'mm', 'bmm', 'baddbmm', 'matmul', 'linear',
              'mkldnn_linear', '_mkl_linear', 'mkldnn_convolution',
              'convolution', '_convolution', 'conv2d', 'einsum',
              'mkldnn_linear_pointwise', 'mkldnn_rnn_layer'),
        copy=('copy_', '_to_copy', 'to', 'cat', 'clone', 'contiguous',
              '_copy_from', '_copy_from_and_resize', 'stack', 'index',
              'constant_pad_nd', 'pad', 'expand', 'repeat', 'permute',
              'reshape', 'view', 'transpose', 'flatten', 'unbind', 'select',
              'slice', 'chunk', 'split', 'narrow', 'as_strided',
              'view_as_real', 'view_as_complex', 'flip', 'roll', 'empty',
              'empty_like', 'empty_strided', 'zeros', 'ones_like',
              'resolve_conj'),
        elementwise=('mul', 'mul_', 'add', 'add_', 'sub', 'div', 'silu',
                     'silu_', 'gelu', 'tanh', 'neg', 'polar', 'cos', 'sin',
                     'exp', 'where', 'sigmoid', 'pow', 'rsqrt', 'sqrt',
                     'addcmul', 'fill_', 'zero_', 'mean', 'sum', 'abs',
                     'clamp', 'rotate'),
        norm=('layer_norm', 'native_layer_norm', 'softmax', '_softmax',
              'group_norm', 'native_group_norm'),
    )
    key = 'self_device_time_total' if cuda else 'self_cpu_time_total'
    totals = dict(gemm=0., attention=0., copy=0., elementwise=0., norm=0.,
                  other=0.)
    for e in prof.key_averages():
        t = getattr(e, key)
        name = e.key.split('::')[-1]
        if 'scaled_dot_product' in name or 'attention' in name:
            totals['attention'] += t
            continue
        for cls, names in classes.items():
            if name in names:
                totals[cls] += t
                break
        else:
            totals['other'] += t
    total = sum(totals.values()) or 1.
    return {k: dict(ms=v / 1e3, share=v / total) for k, v in totals.items()}


def sdpa_backends(prof) -> list:
    """The kernel every ``scaled_dot_product_attention`` call of one forward
    ran, in call order: flash / memory-efficient / cudnn / math."""
    calls = sorted((e for e in prof.events()
                    if e.name == 'aten::scaled_dot_product_attention'),
                   key=lambda e: e.time_range.start)
    out = []
    for e in calls:
        names, stack = set(), list(e.cpu_children)
        while stack:
            c = stack.pop()
            names.add(c.name)
            stack.extend(c.cpu_children)
        text = ' '.join(names)
        if 'flash_attention' in text:
            out.append('flash (cpu kernel)' if 'for_cpu' in text else
                       'flash')
        elif 'efficient_attention' in text:
            out.append('memory-efficient')
        elif 'cudnn_attention' in text:
            out.append('cudnn')
        else:
            out.append('math')
    return out


def summarize_backends(model: str, calls: list) -> dict:
    """VECA: its two calls per layer (cores -> all tokens, patches -> cores)
    separately; other models: all calls together."""
    from collections import Counter
    if model.startswith('veca') and calls:
        return {'cores->all': dict(Counter(calls[0::2])),
                'patches->cores': dict(Counter(calls[1::2]))}
    return {'all': dict(Counter(calls))}


def make_step(args, module, fn, x, dtype: str):
    """One timed step: an inference forward, or with ``--train`` forward +
    backward (a mean over the outputs as the loss); CUDA is synchronised."""
    import torch
    sync = torch.cuda.synchronize if args.device == 'cuda' else (
        lambda: None)
    amp = autocast(dtype, args.device)
    params = [p for p in module.parameters() if p.requires_grad]

    def train_step():
        with amp:
            out = fn(x)
        sum(o.float().mean() for o in _flat(out)).backward()
        for p in params:
            p.grad = None
        sync()

    def infer_step():
        with torch.inference_mode(), amp:
            fn(x)
        sync()
    return train_step if args.train else infer_step


def cuda_peak(step) -> dict:
    """The step's peak CUDA allocation above the allocation before it."""
    import torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    return dict(mem_bytes=torch.cuda.max_memory_allocated() - base,
                mem_peak_total_bytes=torch.cuda.max_memory_allocated(),
                mem_method='cuda max_memory_allocated - allocated before '
                'the step')


def time_steps(step, warmup: int, repeats: int) -> dict:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return dict(times_s=times, median_s=statistics.median(times))


def rel_error(fn, x, dtype: str, device: str) -> float:
    """Relative L2 error of the last output under ``dtype`` autocast
    against the same model in fp32."""
    import torch
    with torch.inference_mode():
        with autocast(dtype, device):
            low = _flat(fn(x))[-1].float()
        ref = _flat(fn(x))[-1].float()
    return float((low - ref).norm() / ref.norm())


def profile_step(args, model: str, step, cuda: bool) -> dict:
    """The SDPA kernels of one extra step and, with ``--profile``, its top
    ops and op-class shares."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                     if cuda else [])
    with profile(activities=acts) as prof:
        step()
    res = dict(sdpa_backends=summarize_backends(model, sdpa_backends(prof)))
    if args.profile:
        key = 'self_device_time_total' if cuda else 'self_cpu_time_total'
        res['profile'] = prof.key_averages().table(sort_by=key,
                                                   row_limit=args.profile)
        res['profile_classes'] = profile_summary(prof, cuda)
    return res


def run_case(args, case: dict) -> dict:
    """Worker: build, one untimed step for memory (and the first-call
    time: a compiled row pays its compilation there), then the timed
    steps; running out of memory is a result."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    model, (h, w) = case['model'], case['size']
    cuda = args.device == 'cuda'
    res = dict(case, device=args.device, threads=torch.get_num_threads(),
               mode='train' if args.train else 'inference')
    peak = torch.cuda.max_memory_allocated if cuda else None
    with oom_as_result(res, peak):
        torch.manual_seed(0)
        module, fn = build_model(model, args, h, w)
        if hasattr(module, 'init_weights') and model.startswith('veca'):
            module.init_weights()
        module.train(args.train).to(args.device)
        x = torch.randn(case['batch'], 3, h, w, device=args.device)
        step = make_step(args, module, fn, x, case['dtype'])
        gc.collect()
        with cast_weights(module, case['dtype'], args.train):
            t0 = time.perf_counter()
            res.update(cuda_peak(step) if cuda else measure_peak_rss(step))
            res['first_s'] = time.perf_counter() - t0
            res.update(time_steps(step, args.warmup, args.repeats))
        res.update(status='ok',
                   params=sum(p.numel() for p in module.parameters()))
        if args.rel_error and case['dtype'] != 'fp32':
            res['rel_error'] = rel_error(fn, x, case['dtype'], args.device)
        if args.profile or cuda or args.sdpa_report:
            res.update(profile_step(args, model, step, cuda))
    return res


# ---------------------------------------------------------------------- #
# Driver side.
def aggregate(runs: list) -> list:
    """One row per (model, size, dtype, batch): the median over rounds of
    each round's median; OOM/timeout/error if any round had one."""
    groups = {}
    for r in runs:
        key = (r['model'], tuple(r['size']), r['dtype'], r['batch'])
        groups.setdefault(key, []).append(r)
    rows = []
    for key, rs in groups.items():
        bad = [r for r in rs if r['status'] != 'ok']
        if bad:
            rows.append(dict(bad[0], rounds=len(rs)))
            continue
        meds = [r['median_s'] for r in rs]
        row = dict(rs[0], rounds=len(rs), round_medians_s=meds,
                   median_s=statistics.median(meds),
                   mem_bytes=max(r['mem_bytes'] for r in rs))
        row.pop('times_s', None)
        rows.append(row)
    return rows


def extrapolate(rows: list, flops: dict, target: dict) -> dict:
    """An anchor case not run at a large size: its time by the FLOP ratio
    from its largest measured size, its memory by the growth exponent
    between its two largest (clamped to [1, 2] in the patch count)."""
    model, size = target['model'], tuple(target['size'])
    same = sorted((r for r in rows if r['model'] == model
                   and r['dtype'] == target['dtype']
                   and r['batch'] == target['batch']
                   and tuple(r['size']) != size),
                  key=lambda r: r['size'][0] * r['size'][1])
    oom = [r for r in same if r['status'] == 'oom']
    if oom:
        s = oom[0]['size']
        return dict(target, status='skipped', reason='skipped: out of memory '
                    f'already at {s[0]}x{s[1]}')
    ok = [r for r in same if r['status'] == 'ok']
    if not ok:
        return dict(target, status='skipped',
                    reason='skipped: nothing smaller measured to extrapolate '
                    'from')
    last = ok[-1]
    n = lambda r: r['size'][0] * r['size'][1]  # noqa: E731
    t = last['median_s'] * flops[(model, size)] / flops[(model, tuple(
        last['size']))]
    p = 1.0
    if len(ok) > 1 and ok[-2]['mem_bytes'] > 0 and last['mem_bytes'] > 0:
        p = math.log(last['mem_bytes'] / ok[-2]['mem_bytes']) / math.log(
            n(last) / n(ok[-2]))
        p = min(max(p, 1.0), 2.0)
    mem = last['mem_bytes'] * (size[0] * size[1] / n(last))**p
    return dict(target, status='skipped', predicted_s=t, predicted_mem=mem,
                reason=f'skipped: would need ~{gib(mem)} / ~{t:,.0f} s '
                f'(extrapolated from {last["size"][0]}x{last["size"][1]})')


def model_label(args, model: str) -> str:
    return dict(veca=f'VECA-{args.arch} (C={args.budget})',
                **{'veca-cp': f'VECA-{args.arch} (C={args.budget}), with_cp',
                   'veca-compile':
                   f'VECA-{args.arch} (C={args.budget}), torch.compile',
                   'released': f'released VECA-{args.arch}',
                   'vit': f'{args.vit} (dense)',
                   'vitdet': f'{args.vitdet} (windowed)'})[model]


def anchor_cells(r: dict, ar: dict, fl, afl) -> list:
    """speedup vs the anchor row ``ar``, FLOP ratio anchor/model, and their
    quotient, for the measured row ``r``."""
    if ar is None or ar['status'] != 'ok':
        sp = '-'
        if ar is not None and afl and fl:
            sp = '- (anchor ' + ('OOM' if ar['status'] == 'oom' else
                                 ar['status']) + ')'
        return [sp, f'{afl / fl:.2f}' if afl and fl else '-', '-']
    speed = ar['median_s'] / r['median_s']
    rm, am = r.get('round_medians_s'), ar.get('round_medians_s')
    if rm and am and len(rm) == len(am) > 1:
        # paired in time: the median of the per-round speedups
        per = [x / y for x, y in zip(am, rm)]
        speed = statistics.median(per)
        sp = f'{speed:.2f} ({min(per):.2f}-{max(per):.2f})'
    else:
        sp = f'{speed:.2f}'
    if r.get('bf16_slower') or ar.get('bf16_slower'):
        sp += ' (no claim: low precision slower than fp32)'
    ratio = afl / fl if afl and fl else None
    return [sp, f'{ratio:.2f}' if ratio else '-',
            f'{speed / ratio:.2f}' if ratio else '-']


def markdown(args, rows: list, flops: dict, dtype: str, batch: int) -> str:
    anchors = [a for a in ANCHORS if a in args.models]
    short = dict(vit='dense', vitdet='windowed')
    head = '| size | patches N | model | median ms | img/s | GFLOPs/img |'
    for a in anchors:
        head += (f' speedup vs {short[a]} | FLOP ratio {short[a]}/model | '
                 'speedup / FLOP ratio |')
    head += ' peak mem (MiB) | first call (s) |'
    if args.rel_error:
        head += ' rel. error vs fp32 |'
    lines = [head, '|' + '---|' * 3 + '---:|' * (head.count('|') - 4)]
    sel = [r for r in rows if r['dtype'] == dtype and r['batch'] == batch]
    for size in sorted({tuple(r['size']) for r in sel},
                       key=lambda s: (s[0] * s[1], s)):
        by = {r['model']: r for r in sel if tuple(r['size']) == size}
        n = -(-size[0] // 16) * -(-size[1] // 16)
        for model in (m for m in MODEL_ORDER if m in by):
            r = by[model]
            fl = flops.get(('veca' if model in SAME_FLOPS_AS_VECA else model,
                            size))
            gfl = f'{fl / 1e9:,.1f}' if fl else ''
            cells = [f'{size[0]}x{size[1]}', str(n), model_label(args, model)]
            if r['status'] != 'ok':
                cells += [status_text(r), '', gfl]
                cells += [''] * (3 * len(anchors) + 2 + bool(args.rel_error))
                lines.append('| ' + ' | '.join(cells) + ' |')
                continue
            cells += [f'{r["median_s"] * 1e3:,.1f}',
                      f'{batch / r["median_s"]:.2f}', gfl]
            for a in anchors:
                cells += anchor_cells(r, by.get(a), fl, flops.get((a, size)))
            cells += [f'{r["mem_bytes"] / 2**20:,.0f}',
                      f'{r["first_s"]:.1f}' if 'first_s' in r else '-']
            if args.rel_error:
                cells.append(f'{r["rel_error"]:.1e}' if 'rel_error' in r
                             else '-')
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def low_precision_check(args, rows: list) -> list:
    """Compare every low-precision row with the fp32 one of the same case;
    mark the rows where it is slower (no speedup is claimed there)."""
    notes = []
    lows = [d for d in args.dtype if d != 'fp32']
    if not lows:
        return notes
    if 'fp32' not in args.dtype:
        return [f'fp32 was not measured in this run, so it is unchecked '
                f'whether {"/".join(lows)} pays off here: run with --dtype '
                f'fp32 {" ".join(lows)}.']
    ok = {(r['model'], tuple(r['size']), r['dtype'], r['batch']): r
          for r in rows if r['status'] == 'ok'}
    lines = ['| size | model | batch | fp32 ms | ' + ' | '.join(
        f'{d} ms | fp32/{d}' for d in lows) + ' |',
        '|---|---|---:|---:|' + '---:|---:|' * len(lows)]
    for (model, size, dtype, batch), r in sorted(ok.items(), key=lambda kv: (
            kv[0][1][0] * kv[0][1][1], kv[0][0], kv[0][3])):
        if dtype != 'fp32':
            continue
        cells = [f'{size[0]}x{size[1]}', model_label(args, model), str(batch),
                 f'{r["median_s"] * 1e3:,.1f}']
        for d in lows:
            lr = ok.get((model, size, d, batch))
            if lr is None:
                cells += ['-', '-']
                continue
            gain = r['median_s'] / lr['median_s']
            cells += [f'{lr["median_s"] * 1e3:,.1f}', f'{gain:.2f}']
            if gain < 1:
                lr['bf16_slower'] = True
                notes.append(
                    f'{d} is SLOWER than fp32 for {model_label(args, model)} '
                    f'at {size[0]}x{size[1]} ({lr["median_s"] * 1e3:,.1f} '
                    f'ms vs {r["median_s"] * 1e3:,.1f} ms): no {d} speedup '
                    'is claimed '
                    'there; this CPU/torch build does not accelerate it.')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return ['\n'.join(lines)] + notes


def add_model_args(p: argparse.ArgumentParser) -> None:
    from veca_mm.models.backbones.veca import ARCH_SETTINGS
    from veca_mm.utils.flops import VIT_ARCHS
    p.add_argument('--arch', default='base', choices=sorted(ARCH_SETTINGS))
    p.add_argument('--budget', type=int, default=64,
                   help='core budget C (a multiple of --core-chunk)')
    p.add_argument('--core-chunk', type=int, default=8,
                   help="VECA's core_chunk (the budget granularity)")
    p.add_argument('--vit', default=None, choices=sorted(VIT_ARCHS),
                   help='timm dense ViT (default: same width as --arch)')
    p.add_argument('--vitdet', default=None,
                   choices=sorted(set(VECA_TO_VITDET.values())),
                   help='timm SAM encoder used as the windowed ViT (default: '
                   'same width as --arch; none for small/splus)')
    p.add_argument('--models', nargs='+', default=None,
                   choices=['veca', 'vit', 'vitdet'],
                   help='default: veca, vit and (where --arch has one) '
                   'vitdet; --train adds veca-cp')
    p.add_argument('--compile', nargs='?', const='inductor', default=None,
                   metavar='BACKEND',
                   help='add VECA under torch.compile (default backend '
                   'inductor) as a row; the untimed first step pays the '
                   'compilation (the "first call" column)')
    p.add_argument('--released-factory', default=None,
                   metavar='MODULE:CALLABLE',
                   help='UNTESTED: time the released model too; called as '
                   'CALLABLE(model_family=ARCH, **released_kwargs)')
    p.add_argument('--released-dir', default=None,
                   help='directory added to sys.path for --released-factory')
    p.add_argument('--released-kwargs', default=None, metavar='JSON',
                   help='extra keyword arguments for the factory, as JSON')


def add_case_args(p: argparse.ArgumentParser) -> None:
    p.add_argument('--sizes', type=parse_size, nargs='+',
                   default=[(512, 512), (1024, 1024)],
                   help='input sizes, N or HxW (e.g. 1024x2048)')
    p.add_argument('--with-2048', action='store_true',
                   help='also run 2048x2048')
    p.add_argument('--with-4096', action='store_true',
                   help='also run 4096x4096 (VECA measured; the anchors '
                   'extrapolated unless --measure-large-anchors)')
    p.add_argument('--measure-large-anchors', action='store_true',
                   help='run the anchors above 2048x2048 too')
    p.add_argument('--dtype', nargs='+', default=['fp32'],
                   choices=sorted(DTYPES),
                   help='non-fp32 runs under torch.autocast; give fp32 too '
                   'to check that the low precision pays off')
    p.add_argument('--batch-size', type=int, nargs='+', default=[1])
    p.add_argument('--train', action='store_true',
                   help='time forward + backward in train mode')
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument('--rounds', type=int, default=1,
                   help='interleaved repetitions of the whole case list; '
                   'the table shows the median over rounds')
    p.add_argument('--repeats', type=int, default=3,
                   help='timed steps per case process')
    p.add_argument('--warmup', type=int, default=1,
                   help='untimed steps after the (untimed) memory one')
    p.add_argument('--threads', type=int, default=None,
                   help='torch.set_num_threads in every case (on a shared '
                   'machine use 1: OpenMP spin-waits under load)')
    p.add_argument('--mem-limit-gb', type=float, default=12.,
                   help='RLIMIT_AS of every CPU case process (0: none)')
    p.add_argument('--case-timeout', type=float, default=None,
                   help='seconds after which a case is stopped and reported '
                   'as timed out')
    p.add_argument('--_case', default=None, help=argparse.SUPPRESS)


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument('--rel-error', action='store_true',
                   help='low-precision rows: also the relative L2 error of '
                   'the last output against fp32 (one more forward)')
    p.add_argument('--profile', type=int, default=0, metavar='ROWS',
                   help='also profile one extra step per case: the top ROWS '
                   'ops (self time) and the share of each op class')
    p.add_argument('--sdpa-report', action='store_true',
                   help='name the SDPA kernel of every attention call (always '
                   'on with --device cuda)')
    p.add_argument('--out', default=None,
                   help='save the results as JSON (and, after every case, '
                   'the runs so far as OUT.partial)')
    p.add_argument('--report', default=None, metavar='JSON',
                   help='run nothing: print the tables of the runs saved in '
                   'an --out file or OUT.partial (give the same model/size/'
                   'dtype options as the run)')


def check_args(p: argparse.ArgumentParser, args) -> None:
    """Refuse what cannot run, before any case process starts."""
    import torch
    from veca_mm.models.backbones.veca import VECA
    # The model's own check of the budget (multiple of its core_chunk, at
    # most its bank), on the meta device: no weights are made.
    try:
        with torch.device('meta'):
            VECA(arch=args.arch, core_chunk=args.core_chunk,
                 core_budgets=args.budget)
    except ValueError as e:
        p.error(f'--budget {args.budget} / --core-chunk {args.core_chunk}: '
                f'{e}')
    if args.released_factory and ':' not in args.released_factory:
        p.error('--released-factory must look like MODULE:CALLABLE')
    if args.repeats < 1 or args.warmup < 0 or args.rounds < 1:
        p.error('--repeats and --rounds must be >= 1 and --warmup >= 0')
    if min(args.batch_size) < 1:
        p.error('--batch-size must be >= 1')
    if args.rel_error and args.train:
        p.error('--rel-error compares inference outputs: drop --train')
    if args.device == 'cuda' and not args._case and \
            not torch.cuda.is_available():
        p.exit(2, '--device cuda: this torch build sees no CUDA device '
               f'(torch {torch.__version__}, torch.version.cuda='
               f'{torch.version.cuda}); run on a machine with a GPU or '
               'drop --device cuda.\n')


def expand_models(p: argparse.ArgumentParser, args) -> None:
    """The rows to run: anchors of --arch's width, with_cp / compiled /
    released rows, and the --with-2048/4096 sizes."""
    from veca_mm.utils.flops import VECA_TO_VIT
    args.vit = args.vit or VECA_TO_VIT[args.arch]
    args.vitdet = args.vitdet or VECA_TO_VITDET.get(args.arch)
    if args.models is None:
        args.models = ['veca', 'vit'] + (['vitdet'] if args.vitdet else [])
    elif 'vitdet' in args.models and not args.vitdet:
        p.error(f'--models vitdet: no windowed ViT of the width of '
                f'VECA-{args.arch} is known; give --vitdet')
    if args.train and 'veca' in args.models:
        args.models.insert(args.models.index('veca') + 1, 'veca-cp')
    if args.compile:
        if 'veca' not in args.models:
            p.error('--compile adds a compiled VECA row: keep veca in '
                    '--models')
        args.models.insert(args.models.index('veca') + 1, 'veca-compile')
    if args.released_factory:
        args.models.append('released')
    for flag, s in (('with_2048', 2048), ('with_4096', 4096)):
        if getattr(args, flag) and (s, s) not in args.sizes:
            args.sizes.append((s, s))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Time and peak memory of VECA vs a dense and a windowed '
        'ViT (see the module docstring for what is measured).')
    for add in (add_model_args, add_case_args, add_run_args,
                add_report_args):
        add(p)
    args = p.parse_args(argv)
    check_args(p, args)
    expand_models(p, args)
    return args


def case_list(args):
    """(cases to run, anchor cases skipped as too large): every model x
    size x dtype x batch, the whole list once per round."""
    cases, skipped = [], []
    for r in range(args.rounds):
        for (h, w) in args.sizes:
            for dtype in args.dtype:
                for batch in args.batch_size:
                    for model in args.models:
                        case = dict(model=model, size=[h, w], dtype=dtype,
                                    batch=batch, round=r)
                        if (model in ANCHORS and h * w // 256 > LARGE_PATCHES
                                and not args.measure_large_anchors):
                            if r == 0:
                                skipped.append(case)
                            continue
                        cases.append(case)
    return cases, skipped


def all_flops(args) -> dict:
    """FLOPs of every (model, size); rows on VECA's graph share VECA's."""
    flops = {}
    for model in args.models:
        for (h, w) in args.sizes:
            name = 'veca' if model in SAME_FLOPS_AS_VECA else model
            if (name, (h, w)) not in flops:
                flops[(name, (h, w))] = count_flops(name, args, h, w)
    return flops


def run_cases(args, argv, cases: list) -> list:
    """Each case in its own process; progress on stderr, and the runs so
    far saved as OUT.partial after every case."""
    runs = []
    # SIGTERM (e.g. kill) stops the running case too, see spawn_case
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    for i, case in enumerate(cases):
        r = spawn_case(__file__, argv, case, args.mem_limit_gb,
                       args.case_timeout, args.device == 'cuda')
        runs.append(r)
        if args.out:  # a stopped run keeps what it measured: --report it
            with open(args.out + '.partial', 'w') as f:
                json.dump(dict(runs=runs), f)
        h, w = case['size']
        msg = (f'{r["median_s"] * 1e3:,.1f} ms' if r['status'] == 'ok' else
               status_text(r))
        print(f'  [{i + 1}/{len(cases)}] round {case["round"]} '
              f'{case["model"]} {h}x{w} {case["dtype"]} B={case["batch"]}: '
              f'{msg}', file=sys.stderr, flush=True)
        if r['status'] == 'error':
            print(r['error'], file=sys.stderr)
        if r.get('profile') and case['round'] == 0:
            print(f'\n## profile: {case["model"]} {h}x{w} {case["dtype"]}\n'
                  f'{r["profile"]}\nop classes (self time): ' + ', '.join(
                      f'{k} {v["share"]:.0%}'
                      for k, v in r['profile_classes'].items()))
    return runs


def print_header(args, rows, dev, cpu, loads) -> None:
    import torch
    if args.report:
        print(f'\n# re-rendered from {args.report}')
    mode = 'train: forward + backward' if args.train else 'inference forward'
    print(f'\n# {args.device} ({dev}), {mode}, '
          f'threads {rows[0].get("threads", "?") if rows else "?"}, torch '
          f'{torch.__version__}; per case: median of {args.repeats} after '
          f'{args.warmup + 1} warm-up; {args.rounds} interleaved round(s), '
          f'median over rounds (per-round range in brackets); load avg '
          f'{loads[0][0]:.2f} -> {loads[1][0]:.2f}')
    print(f'# CPU features: {" ".join(cpu["features"]) or "none"} '
          f'(not found: {" ".join(cpu["missing"]) or "-"}); torch CPU '
          f'capability {cpu["torch_cpu_capability"]}')


def print_tables(args, rows, flops, notes) -> None:
    for dtype in args.dtype:
        for batch in args.batch_size:
            print(f'\n## {dtype}{" (autocast)" if dtype != "fp32" else ""}, '
                  f'batch {batch}\n')
            print(markdown(args, rows, flops, dtype, batch))
    if notes:
        print('\n## low precision vs fp32\n')
        print('\n'.join(notes))
    backends = [r for r in rows if r.get('sdpa_backends')]
    if backends:
        print('\n## SDPA kernel per attention call\n')
        for r in backends:
            print(f'- {model_label(args, r["model"])} {r["size"][0]}x'
                  f'{r["size"][1]} {r["dtype"]} B={r["batch"]}: '
                  f'{json.dumps(r["sdpa_backends"])}')
    ok = [r for r in rows if r['status'] == 'ok']
    if ok:
        print(f'\npeak mem = {ok[0]["mem_method"]}. FLOPs: FlopCounterMode '
              'on meta copies (matmul, conv, attention). speedup = anchor '
              'time / model time (with rounds: the median of the per-round '
              'speedups, their range in brackets). first call = the untimed '
              'memory step (a compiled row compiles there).')


def save(args, path, rows, runs, flops, dev, cpu, loads) -> None:
    import torch
    meta = {k: v for k, v in vars(args).items() if k != '_case'}
    with open(path, 'w') as f:
        json.dump(dict(args=meta, torch=torch.__version__, device=dev,
                       cpu=cpu, loadavg=list(loads),
                       flops={f'{m} {s[0]}x{s[1]}': v
                              for (m, s), v in flops.items()},
                       results=rows, runs=runs), f, indent=1)
    print(f'saved {path}')


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if run_if_case(args, run_case):  # a case process
        return 0
    import torch
    cases, skipped = case_list(args)
    flops = all_flops(args)
    load0 = os.getloadavg()
    runs = []
    if args.report:  # only re-render the tables of an earlier (partial) run
        with open(args.report) as f:
            runs, cases = json.load(f)['runs'], []
    runs += run_cases(args, argv, cases)
    loads = (load0, os.getloadavg())
    rows = aggregate(runs)
    rows += [extrapolate(rows, flops, c) for c in skipped]
    notes = low_precision_check(args, rows)
    cpu = cpu_report()
    dev = torch.cuda.get_device_name() if args.device == 'cuda' else \
        cpu['cpu']
    print_header(args, rows, dev, cpu, loads)
    print_tables(args, rows, flops, notes)
    if args.out:
        save(args, args.out, rows, runs, flops, dev, cpu, loads)
    failed = [r for r in runs if r['status'] == 'error']
    if failed:
        print(f'{len(failed)} case(s) FAILED (not out of memory): ' + ', '.join(
            f'{r["model"]} {r["size"][0]}x{r["size"][1]} {r["dtype"]}'
            for r in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
