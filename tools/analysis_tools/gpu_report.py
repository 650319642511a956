# Copyright (c) veca_mm contributors. Apache-2.0.
"""One command, one markdown report: how VECA behaves on a GPU.

    python tools/analysis_tools/gpu_report.py --out docs/benchmarks_gpu.md
    python tools/analysis_tools/gpu_report.py --device cpu --smoke   # tests
    bash: python -m torch.distributed.run --nproc_per_node 2 \\
        tools/analysis_tools/gpu_report.py --launcher pytorch --sections train

Sections (``--sections``, all by default; budgeted for about 6 minutes on
one H100-class GPU):

* ``backbone``: inference under bf16 autocast, a batch per image size
  (``--batch``), img/s and peak ``torch.cuda.max_memory_allocated`` of VECA-B
  at C=8/16/64, timm's dense ViT-B/16 (fused SDPA) and the windowed ViT-B
  (timm's SAM encoder ``samvit_base_patch16``, as
  ``benchmark_backbone.py``), at 512/1024/2048 (and 4096 for VECA only).
  Beside each speedup over the dense ViT-B, the FLOP ratio (dense FLOPs /
  model FLOPs, ``FlopCounterMode`` on the meta device); VECA's MFU against
  the device's dense bf16 peak (``PEAK_BF16_TFLOPS`` by device name, or
  ``--peak-tflops``).
* ``sdpa``: the kernel each of VECA's two attention calls ran (flash,
  memory-efficient, cudnn, math; ``cpu`` on the CPU), per size. The math
  kernel for either call at >= 1024x1024 is a failure.
* ``train``: one training step (forward + backward + AdamW) of the UPerNet
  ADE20K, UPerNet Cityscapes and Mask R-CNN configs at their crop sizes and
  batch sizes, VECA-B against its dense ViT-B twin (the same config with
  mmseg's ``TIMMBackbone`` for timm's ViT-B/16), on a fixed synthetic batch:
  s/iter and peak memory under bf16 autocast, and ``--train-iters`` (20)
  iterations under fp16 autocast with a ``torch.amp.GradScaler`` from the
  same initial weights: every loss finite and the last losses within
  ``--fp16-rtol`` of bf16's. With ``--launcher pytorch`` (torchrun) the
  step runs as ``tools/dist_train.sh`` trains: the process group from the
  config's ``env_cfg.dist_cfg`` (NCCL on GPU) through mmengine's
  ``init_dist``, the model in ``MMDistributedDataParallel``; on CPU,
  ``veca_mm.utils.dist.prepare_cpu_distributed`` (gloo, SyncBN -> BN), as
  ``tools/train.py``. Without a launcher SyncBN becomes BN, as mmengine's
  runner does in one process.
* ``compile``: VECA-B inference eager against ``torch.compile`` (the first
  call's time, compilation included, reported apart).

``--device cpu --smoke`` runs every code path at tiny sizes (tiny VECA, tiny
timm twins, 32-64 px, one or two iterations, the ``eager`` compile backend),
so that the GPU run cannot fail on a typo; its numbers mean nothing. The
report is rewritten after every section (an interrupted run keeps what it
measured); the tool exits 1 if any check failed (math kernel, non-finite
fp16, fp16 off bf16) and says which.
"""
import argparse
import contextlib
import gc
import math
import os
import os.path as osp
import platform
import subprocess
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Dense bf16 tensor-core peaks (TFLOPS, no sparsity) by device name,
# checked in order.
PEAK_BF16_TFLOPS = (('H100 PCIe', ('H100', 'PCIe'), 756.),
                    ('H100 SXM', ('H100', 'HBM3'), 989.),
                    ('H100 SXM', ('H100', 'SXM'), 989.),
                    ('H200', ('H200', ), 989.),
                    ('A100', ('A100', ), 312.),
                    ('L40S', ('L40S', ), 362.),
                    ('RTX 4090', ('RTX 4090', ), 165.))
TRAIN_CONFIGS = ('configs/veca_upernet_ade20k.py',
                 'configs/veca_upernet_cityscapes.py',
                 'configs/veca_mask-rcnn_coco.py')
VECA_B = 'base'
VIT_B, VITDET_B = 'vit_base_patch16_224', 'samvit_base_patch16'
# --smoke: the same models, tiny (12 layers: the configs' out_indices and
# layer-decay settings stay valid; 64 cores: their budgets too).
# Every channel width of the configs' necks and heads is divided by SHRINK
# (768 -> 48, 256 -> 16, ...), so the tiny backbones are 768 / SHRINK wide.
SHRINK = 16
TINY_VECA = dict(embed_dims=48, num_layers=12, num_heads=3, mlp_ratio=2.0,
                 num_cores=64)
TINY_TIMM = dict(embed_dim=48, depth=12, num_heads=3, mlp_ratio=2.0)
TINY_SAM = dict(embed_dim=48, depth=4, num_heads=3, mlp_ratio=2.0,
                global_attn_indexes=(1, 3), window_size=2)
GPU_BATCH = {512: 32, 1024: 8, 2048: 2, 4096: 1}


# ---------------------------------------------------------------------- #
# The device and how to measure on it.
def peak_tflops(device_name: str, override=None):
    """``(TFLOPS, label)``: the dense bf16 peak of the device, or (None,
    None) when its name is not in ``PEAK_BF16_TFLOPS``."""
    if override:
        return float(override), '--peak-tflops'
    for label, parts, tflops in PEAK_BF16_TFLOPS:
        if all(p in device_name for p in parts):
            return tflops, label
    return None, None


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    return platform.processor() or 'cpu'


def _driver() -> str:
    try:
        out = subprocess.run(
            ['nvidia-smi', '--query-gpu=driver_version',
             '--format=csv,noheader'], capture_output=True, text=True,
            timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return 'unknown (no nvidia-smi)'
    return out[0] if out else 'unknown'


def device_info(device: torch.device) -> dict:
    """What the report's header says about the machine and the stack."""
    import mmcv

    from veca_mm.utils.cuda_ops import mmcv_ops_cuda_version
    info = dict(torch=torch.__version__, cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version(),
                python=platform.python_version(), mmcv=mmcv.__version__,
                mmcv_ops_cuda=mmcv_ops_cuda_version(),
                date=time.strftime('%Y-%m-%d %H:%M %Z'),
                command=' '.join(['python'] + sys.argv))
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, driver=_driver(),
                    memory_gib=round(props.total_memory / 2**30, 1),
                    capability='%d.%d' % (props.major, props.minor))
    else:
        info.update(name=_cpu_name(), driver='n/a (CPU)',
                    threads=torch.get_num_threads())
    return info


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_bytes(device: torch.device):
    """``max_memory_allocated`` since the last ``reset_peak`` (None on CPU:
    the report's memory is the GPU's)."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device)
    return None


def seconds_per_step(step, args) -> float:
    """Mean seconds of ``step()`` (which synchronises) over at least
    ``--min-iters`` calls and ``--min-time`` seconds, after ``--warmup``."""
    for _ in range(args.warmup):
        step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t0
        if n >= args.min_iters and elapsed >= args.min_time:
            return elapsed / n


@contextlib.contextmanager
def cpu_smoke_threads(args, device):
    """One thread for a CPU smoke run. With two threads on a shared,
    oversubscribed 2-core machine, oneDNN's parallel regions waited for
    each other: a bf16 8x8 linear took 17-30 ms instead of 0.004 ms with
    one (measured here), and the tiny smoke run minutes instead of
    seconds. Its numbers mean nothing either way."""
    if not (args.smoke and device.type == 'cpu'):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def quiet_logs():
    """mmengine's INFO lines (the init_weights table) off for a while."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level

    @contextlib.contextmanager
    def ctx():
        logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logger.setLevel(level)
    return ctx()


def bf16(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16)


# ---------------------------------------------------------------------- #
# Backbones: VECA-B, the dense ViT-B/16 and the windowed ViT-B.
def build_backbone(kind: str, args, size: int):
    """``(module, forward)`` of ``kind`` (``veca``, ``vit``, ``vitdet``),
    random init, on the current default device."""
    if kind == 'veca':
        from veca_mm.models.backbones.veca import VECA
        m = VECA(arch=args.veca_arch, core_budgets=max(args.budgets),
                 out_indices=-1)
        return m, m
    import timm
    if kind == 'vit':
        m = timm.create_model(VIT_B, pretrained=False, dynamic_img_size=True,
                              num_classes=0, **args.timm_kwargs)
    else:
        m = timm.create_model(VITDET_B, pretrained=False, img_size=size,
                              num_classes=0, neck_chans=0,
                              **args.sam_kwargs)
    return m, m.forward_features


def backbone_flops(fn, size: int, device) -> int:
    """FLOPs of one image's forward (``FlopCounterMode``: matmuls,
    convolutions and attention kernels) of the built model ``fn``."""
    from veca_mm.utils.flops import measured_flops
    x = torch.randn(1, 3, size, size, device=device)

    def run():
        with torch.no_grad():
            fn(x)
    return measured_flops(run)


def dense_flops_meta(args, size: int) -> int:
    """The dense ViT's FLOPs where it is not run (VECA-only sizes), counted
    on a weightless meta-device copy."""
    from veca_mm.utils.flops import measured_flops
    with torch.device('meta'):
        _, fn = build_backbone('vit', args, size)
        x = torch.empty(1, 3, size, size)
        return measured_flops(lambda: fn(x))


def measure_inference(fn, size: int, batch: int, device, args) -> dict:
    """img/s and peak memory of bf16 inference at ``batch`` (halved until it
    fits; running out of memory at batch 1 is a result)."""
    while batch >= 1:
        try:
            x = torch.randn(batch, 3, size, size, device=device)

            def step():
                with torch.inference_mode(), bf16(device):
                    fn(x)
                sync(device)
            reset_peak(device)
            step()
            mem = peak_bytes(device)
            sec = seconds_per_step(step, args)
            return dict(status='ok', batch=batch, img_s=batch / sec,
                        mem_bytes=mem)
        except torch.OutOfMemoryError:
            x = None
            batch //= 2
    return dict(status='out of memory at batch 1')


def backbone_cases(args):
    """``(size, kind, budget)`` in run order: per size the dense ViT first
    (the speedups' reference), the windowed ViT, then VECA's budgets (only
    VECA at the VECA-only sizes)."""
    cases = []
    for size in list(args.sizes) + list(args.veca_sizes):
        if size not in args.veca_sizes:
            cases += [(size, 'vit', None), (size, 'vitdet', None)]
        cases += [(size, 'veca', c) for c in args.budgets]
    return cases


def _compare(r: dict, dense: dict, tflops) -> None:
    """FLOP ratio and speedup against the dense ViT; VECA's MFU."""
    r['flop_ratio'] = dense['flops'] / r['flops']
    if r.get('img_s') and dense.get('img_s'):
        r['speedup'] = r['img_s'] / dense['img_s']
    if r['model'] == 'veca' and tflops and r.get('img_s'):
        r['mfu'] = r['flops'] * r['img_s'] / (tflops * 1e12)


def section_backbone(args, device, out: dict) -> None:
    """Inference rows, one model on the device at a time (so that the peak
    memory is that model's)."""
    rows, dense, current, model = [], {}, None, None
    tflops, _ = peak_tflops(out['device']['name'], args.peak_tflops)
    for size, kind, budget in backbone_cases(args):
        if current != (kind, size):
            model = None
            reset_peak(device)
            model = build_backbone(kind, args, size)
            model[0].to(device).eval()
            current = (kind, size)
        if budget is not None:
            model[0].set_core_budgets(budget)
        r = dict(model=kind, budget=budget, size=size,
                 flops=backbone_flops(model[1], size, device),
                 **measure_inference(model[1], size, args.batch.get(size, 1),
                                     device, args))
        if kind == 'vit':
            dense[size] = r
        if size not in dense:
            dense[size] = dict(flops=dense_flops_meta(args, size))
        _compare(r, dense[size], tflops)
        rows.append(r)
        print(f'[gpu_report] backbone {kind} C={budget} {size}px: '
              f'{r.get("img_s", r["status"])} img/s', flush=True)
    out['backbone'] = rows


# ---------------------------------------------------------------------- #
# Which SDPA kernel each attention call ran.
def _kernels(device, size: int, fn) -> list:
    from veca_mm.utils.sdpa_kernels import sdpa_calls
    x = torch.randn(1, 3, size, size, device=device)

    def forward():
        with torch.inference_mode(), bf16(device):
            fn(x)
        sync(device)
    return sdpa_calls(forward)


def veca_kernel_row(calls: list, size: int, budget: int, args) -> dict:
    """Kernel counts of VECA's two calls; math at >= --math-fail-size
    fails."""
    from collections import Counter

    from veca_mm.utils.sdpa_kernels import veca_call_kind
    by_kind = {'cores->all': Counter(), 'patches->cores': Counter()}
    for call in calls:
        by_kind[veca_call_kind(call, budget)][call['kernel']] += 1
    row = dict(model='veca', size=size, budget=budget,
               **{k: dict(v) for k, v in by_kind.items()})
    bad = [k for k, v in by_kind.items() if v.get('math')]
    if bad and size >= args.math_fail_size:
        row['failure'] = (f'VECA C={budget} at {size}x{size}: the '
                          f'{" and ".join(bad)} call(s) ran the math kernel')
    return row


def section_sdpa(args, device, out: dict) -> None:
    """One profiled bf16 forward per (model, size[, budget])."""
    from collections import Counter
    rows = []
    veca, veca_fn = build_backbone('veca', args, 0)
    veca.to(device).eval()
    for size in list(args.sizes) + list(args.veca_sizes):
        for budget in args.budgets:
            veca.set_core_budgets(budget)
            row = veca_kernel_row(_kernels(device, size, veca_fn), size,
                                  budget, args)
            rows.append(row)
            if 'failure' in row:
                out['failures'].append(row['failure'])
        if size in args.veca_sizes:
            continue
        for kind in ('vit', 'vitdet'):
            m, fn = build_backbone(kind, args, size)
            m.to(device).eval()
            calls = _kernels(device, size, fn)
            rows.append(dict(model=kind, size=size, budget=None,
                             all=dict(Counter(c['kernel'] for c in calls))))
            del m, fn
    out['sdpa'] = rows


# ---------------------------------------------------------------------- #
# torch.compile on / off for the backbone.
def section_compile(args, device, out: dict) -> None:
    """VECA at ``--compile-size``, the middle budget: eager against
    ``torch.compile`` (static shapes); the first compiled call apart."""
    size = args.compile_size
    budget = sorted(args.budgets)[len(args.budgets) // 2]
    batch = args.batch.get(size, 1)
    model, fn = build_backbone('veca', args, size)
    model.to(device).eval()
    model.set_core_budgets(budget)
    eager = measure_inference(fn, size, batch, device, args)
    compiled = torch.compile(model, dynamic=False,
                             backend=args.compile_backend)
    x = torch.randn(eager.get('batch', 1), 3, size, size, device=device)
    t0 = time.perf_counter()
    try:
        with torch.inference_mode(), bf16(device):
            compiled(x)
    except Exception as e:  # a compiler failure is this section's result
        out['failures'].append(f'torch.compile({args.compile_backend}): '
                               f'{type(e).__name__}: {str(e)[:300]}')
        return
    sync(device)
    first = time.perf_counter() - t0
    on = measure_inference(compiled, size, eager.get('batch', 1), device,
                           args)
    speedup = (on['img_s'] / eager['img_s']
               if on.get('img_s') and eager.get('img_s') else None)
    out['compile'] = dict(size=size, budget=budget,
                          backend=args.compile_backend, eager=eager,
                          compiled=on, first_call_s=first, speedup=speedup)


# ---------------------------------------------------------------------- #
# Training step: a headline config, VECA-B against its dense twin.
def _crop(cfg) -> tuple:
    """The config's training crop: the segmentor preprocessor's ``size`` or
    the detector's fixed-size batch padding."""
    pre = cfg.model.get('data_preprocessor') or {}
    if pre.get('size'):
        return tuple(pre['size'])
    for aug in pre.get('batch_augments') or []:
        if aug.get('size'):
            return tuple(aug['size'])
    raise ValueError(f'{cfg.filename}: no crop size in model.data_'
                     'preprocessor (size or a batch_augments size)')


def _set_crop(cfg, crop: tuple) -> None:
    pre = cfg.model.data_preprocessor
    if pre.get('size'):
        pre.size = crop
    for aug in pre.get('batch_augments') or []:
        if aug.get('size'):
            aug['size'] = crop


def dense_twin(cfg, args) -> dict:
    """timm's dense ViT-B/16 through mmseg's ``TIMMBackbone``, returning the
    stride-16 maps of the same layers as the config's VECA."""
    veca = cfg.model.backbone
    layers = (args.veca_arch if isinstance(args.veca_arch, dict) else
              {'num_layers': 12})['num_layers']
    idx = veca.get('out_indices', -1)
    idx = tuple(i % layers for i in ((idx, ) if isinstance(idx, int)
                                     else idx))
    mmseg_scope = cfg.get('default_scope', 'mmseg') == 'mmseg'
    return dict(type='TIMMBackbone' if mmseg_scope else 'mmseg.TIMMBackbone',
                model_name=VIT_B, features_only=True, pretrained=False,
                out_indices=idx, dynamic_img_size=True, **args.timm_kwargs)


def shrink_widths(node) -> None:
    """--smoke: every ``*channels`` width divisible by ``SHRINK`` (and at
    least 64) divided by it, in place, outside the backbone; widths that
    must agree stay in agreement."""
    def small(v):
        return v // SHRINK if isinstance(v, int) and v >= 64 and \
            v % SHRINK == 0 else v
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'backbone':
                continue
            if key.endswith('channels'):
                node[key] = (type(value)(small(v) for v in value)
                             if isinstance(value, (list, tuple)) else
                             small(value))
            else:
                shrink_widths(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            shrink_widths(value)


def train_cfg(path: str, backbone: str, args):
    """The config with random init, the twin's backbone for ``'vit'``, and
    under ``--smoke`` a tiny backbone, a small crop and batch 2."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, path) if not osp.isabs(path)
                          else path)
    cfg.model.backbone.init_cfg = None
    crop = _crop(cfg)
    if args.smoke:
        cfg.model.backbone.arch = args.veca_arch
        shrink_widths(cfg.model)
        crop = tuple(max(32, c // 16 // 32 * 32) for c in crop)
        _set_crop(cfg, crop)
    if backbone == 'vit':
        cfg.model.backbone = dense_twin(cfg, args)
    # smoke: 2 images, as BN in a pooled 1x1 branch needs more than one
    batch = args.train_batch or (2 if args.smoke else
                                 cfg.train_dataloader.batch_size)
    return cfg, crop, batch


def seg_batch(cfg, crop, batch: int, seed: int) -> dict:
    """A fixed synthetic segmentation batch (16-pixel blocks of classes)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    h, w = crop
    ncls = cfg.model.decode_head.num_classes
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g,
                                    dtype=torch.uint8))
        blocks = torch.randint(0, ncls, (1, -(-h // 16), -(-w // 16)),
                               generator=g)
        label = blocks.repeat_interleave(16, 1).repeat_interleave(16, 2)
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=label[:, :h, :w])
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def det_batch(cfg, crop, batch: int, seed: int) -> dict:
    """A fixed synthetic detection batch: three boxes with box masks."""
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    h, w = crop
    heads = cfg.model.get('roi_head', {}).get('bbox_head') or \
        cfg.model.bbox_head
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g,
                                    dtype=torch.uint8))
        xy = torch.rand(3, 2, generator=g) * torch.tensor([w / 2, h / 2])
        wh = (0.25 + torch.rand(3, 2, generator=g) / 4) * torch.tensor([w, h])
        boxes = torch.cat((xy, xy + wh), 1).round()
        masks = np.zeros((3, h, w), np.uint8)
        for i, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
            masks[i, y0:y1, x0:x1] = 1
        s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(
            bboxes=boxes, masks=BitmapMasks(masks, h, w),
            labels=torch.randint(0, heads.num_classes, (3, ), generator=g))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def init_launcher(cfg, args, device) -> bool:
    """Distributed as ``tools/dist_train.sh`` + ``tools/train.py`` run it:
    True if this process is one of several."""
    if args.launcher == 'none':
        return False
    if device.type == 'cpu':
        from veca_mm.utils.dist import prepare_cpu_distributed
        return prepare_cpu_distributed(cfg, args.launcher)
    import torch.distributed as dist
    from mmengine.dist import init_dist
    if not dist.is_initialized():  # as mmengine's Runner.setup_env
        init_dist(args.launcher, **cfg.env_cfg.get('dist_cfg', {}))
    return True


def build_train_model(cfg, device, distributed: bool):
    """``(model to call, the module)``: mmengine's DDP wrapper when
    distributed, else SyncBN turned into BN as mmengine's runner does in
    one process."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODEL_WRAPPERS, MODELS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    with quiet_logs():
        model = MODELS.build(cfg.model)
        model.init_weights()
    model.to(device).train()
    if not distributed:
        if any(isinstance(m, torch.nn.SyncBatchNorm)
               for m in model.modules()):
            print('[gpu_report] one process: SyncBN -> BN, as mmengine\'s '
                  'runner does without a launcher (the same statistics on '
                  'one GPU)', flush=True)
        model = revert_sync_batchnorm(model)
        return model, model
    wrapper = dict(type='MMDistributedDataParallel',
                   broadcast_buffers=False,
                   find_unused_parameters=cfg.get('find_unused_parameters',
                                                  False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    if device.type == 'cuda':
        wrapper['device_ids'] = [device.index or 0]
    return MODEL_WRAPPERS.build(wrapper, default_args=dict(module=model)), \
        model


TRAIN_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16, fp32=None)


def train_run(cfg, data, device, dtype, args, distributed) -> dict:
    """``--train-iters`` steps (forward + backward + AdamW) under
    ``dtype`` autocast, fp16 with a GradScaler, from seeded weights on the
    same batch: the losses, s/iter after two warm-up steps, peak memory and
    the steps the scaler skipped."""
    import copy
    torch.manual_seed(args.seed)
    model, module = build_train_model(cfg, device, distributed)
    opt_cfg = cfg.optim_wrapper.optimizer
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=opt_cfg.lr,
        betas=tuple(opt_cfg.get('betas', (0.9, 0.999))),
        weight_decay=opt_cfg.get('weight_decay', 0.01))
    scaler = torch.amp.GradScaler(device.type,
                                  enabled=dtype == torch.float16)
    losses, times, skipped = [], [], 0
    reset_peak(device)
    for _ in range(args.train_iters):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16,
                            enabled=dtype is not None):
            batch = module.data_preprocessor(copy.deepcopy(data), True)
            loss, _ = module.parse_losses(model(**batch, mode='loss'))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scale = scaler.get_scale() if scaler.is_enabled() else 1.
        scaler.step(opt)
        scaler.update()
        skipped += scaler.is_enabled() and scaler.get_scale() < scale
        losses.append(float(loss.detach()))
        sync(device)
        times.append(time.perf_counter() - t0)
    timed = times[2:] or times
    return dict(losses=losses, s_iter=sum(timed) / len(timed),
                mem_bytes=peak_bytes(device), skipped_steps=int(skipped))


def compare_fp16(r16: dict, rbf: dict, args) -> dict:
    """fp16 against bf16: finite, and the mean of the last (up to) five
    losses within ``--fp16-rtol``."""
    k = min(5, len(rbf['losses']))
    a = sum(r16['losses'][-k:]) / k
    b = sum(rbf['losses'][-k:]) / k
    finite = all(math.isfinite(v) for v in r16['losses'])
    rel = abs(a - b) / max(abs(b), 1e-12) if finite else float('nan')
    return dict(finite=finite, rel_diff=rel,
                ok=finite and rel <= args.fp16_rtol)


def guarded_train_run(cfg, data, device, name, args, distributed) -> dict:
    """``train_run``, with a failure as the row's result (an mmcv op
    without a kernel for the dtype, running out of memory ...)."""
    try:
        return dict(status='ok', **train_run(cfg, data, device,
                                             TRAIN_DTYPES[name], args,
                                             distributed))
    except torch.OutOfMemoryError:
        return dict(status='out of memory')
    except (RuntimeError, NotImplementedError) as e:
        return dict(status=f'{type(e).__name__}: {str(e)[:300]}')


def _train_row(path, backbone, args, device) -> dict:
    cfg, crop, batch = train_cfg(path, backbone, args)
    distributed = init_launcher(cfg, args, device)
    make = seg_batch if cfg.get('default_scope',
                                'mmseg') == 'mmseg' else det_batch
    data = make(cfg, crop, batch, args.seed)
    runs = {name: guarded_train_run(cfg, data, device, name, args,
                                    distributed)
            for name in args.train_dtypes}
    row = dict(config=path, backbone=backbone, crop=list(crop), batch=batch,
               distributed=distributed, runs=runs)
    failed = [f'{name}: {r["status"]}' for name, r in runs.items()
              if r['status'] != 'ok']
    if 'fp16' in runs and 'bf16' in runs and not failed:
        row['fp16_check'] = check = compare_fp16(runs['fp16'],
                                                 runs['bf16'], args)
        if not check['ok']:
            failed.append('fp16 + GradScaler ' + (
                'gave a non-finite loss' if not check['finite'] else
                f'ends {check["rel_diff"]:.3f} from bf16 (> --fp16-rtol '
                f'{args.fp16_rtol})'))
    row['failures'] = [f'{path} ({backbone}) {f}' for f in failed]
    return row


def section_train(args, device, out: dict) -> None:
    rows = []
    for path in args.configs:
        for backbone in ('veca', 'vit'):
            row = _train_row(path, backbone, args, device)
            out['failures'] += row['failures']
            rows.append(row)
            print(f'[gpu_report] train {path} {backbone}: ' + ', '.join(
                f'{k} {r.get("s_iter", r["status"])}'
                for k, r in row['runs'].items()), flush=True)
    out['train'] = rows


# ---------------------------------------------------------------------- #
# The report.
def _gib(b) -> str:
    return '-' if b is None else f'{b / 2**30:.2f}'


def _num(v, fmt='{:.2f}') -> str:
    return '-' if v is None else fmt.format(v)


def _label(r: dict) -> str:
    return {'veca': f'VECA-B C={r["budget"]}', 'vit': 'dense ViT-B/16',
            'vitdet': 'windowed ViT-B/16'}[r['model']]


def md_backbone(rows: list, info: dict) -> list:
    tflops, label = peak_tflops(info['name'], info.get('peak_override'))
    peak = (f'{tflops:g} TFLOPS ({label})' if tflops else
            'unknown for this device: pass --peak-tflops')
    lines = ['## Backbone inference (bf16 autocast)', '',
             f'MFU: model FLOPs x img/s / dense bf16 peak, {peak}. FLOP '
             'ratio: dense ViT-B FLOPs / model FLOPs; speedup: model img/s '
             '/ dense ViT-B img/s at the same size.', '',
             '| model | size | batch | img/s | peak mem GiB | GFLOPs/img '
             '| FLOP ratio | speedup | MFU |', '|' + '---|' * 9]
    for r in rows:
        if r['status'] != 'ok':
            lines.append(f'| {_label(r)} | {r["size"]} | | {r["status"]} '
                         '| | | | | |')
            continue
        lines.append(
            f'| {_label(r)} | {r["size"]} | {r["batch"]} | '
            f'{r["img_s"]:.1f} | {_gib(r["mem_bytes"])} | '
            f'{r["flops"] / 1e9:.1f} | {_num(r.get("flop_ratio"))} | '
            f'{_num(r.get("speedup"))} | '
            f'{_num(r.get("mfu"), "{:.1%}")} |')
    return lines + ['']


def md_sdpa(rows: list) -> list:
    lines = ['## SDPA kernel per attention call (bf16, batch 1)', '',
             'Calls per kernel over one forward. VECA: cores -> all tokens '
             'and patches -> cores; the math kernel for either at >= '
             '1024x1024 fails the report.', '',
             '| model | size | cores->all | patches->cores | all calls |',
             '|---|---|---|---|---|']
    for r in rows:
        cells = [', '.join(f'{k} x{n}' for k, n in r.get(c, {}).items())
                 for c in ('cores->all', 'patches->cores', 'all')]
        lines.append(f'| {_label(r)} | {r["size"]} | ' + ' | '.join(cells)
                     + (' **FAIL**' if 'failure' in r else '') + ' |')
    return lines + ['']


def md_train(rows: list, args) -> list:
    lines = ['## Training step (forward + backward + AdamW)', '',
             f'{args.train_iters} iterations from the same seeded weights on '
             'one fixed synthetic batch; s/iter after 2 warm-up iterations. '
             'fp16: autocast + GradScaler (skipped: steps the scaler '
             'skipped); "fp16 vs bf16": difference of the means of the last'
             f' 5 losses, relative (tolerance {args.fp16_rtol}).', '',
             '| config | backbone | crop | batch | precision | s/iter | '
             'peak GiB | last loss | skipped | fp16 vs bf16 |',
             '|' + '---|' * 10]
    for r in rows:
        twin = 'VECA-B' if r['backbone'] == 'veca' else 'dense ViT-B twin'
        check = r.get('fp16_check')
        for name, run in r['runs'].items():
            head = (f'| {osp.basename(r["config"])} | {twin} | '
                    f'{"x".join(map(str, r["crop"]))} | {r["batch"]} | '
                    f'{name} | ')
            if run['status'] != 'ok':
                lines.append(head + f'{run["status"]} | | | | |')
                continue
            vs = ''
            if name == 'fp16' and check:
                vs = f'{check["rel_diff"]:.3f}' + (
                    '' if check['ok'] else ' **FAIL**')
            lines.append(head + f'{run["s_iter"]:.3f} | '
                         f'{_gib(run["mem_bytes"])} | '
                         f'{run["losses"][-1]:.4g} | '
                         f'{run["skipped_steps"]} | {vs} |')
    return lines + ['']


def md_compile(c: dict) -> list:
    e, o = c['eager'], c['compiled']
    return ['## torch.compile for the backbone (bf16 inference)', '',
            f'VECA-B C={c["budget"]} at {c["size"]}x{c["size"]}, batch '
            f'{e.get("batch")}, backend `{c["backend"]}`, static shapes.', '',
            '| | img/s | peak mem GiB |', '|---|---|---|',
            f'| eager | {_num(e.get("img_s"), "{:.1f}")} | '
            f'{_gib(e.get("mem_bytes"))} |',
            f'| compiled | {_num(o.get("img_s"), "{:.1f}")} | '
            f'{_gib(o.get("mem_bytes"))} |', '',
            f'Speedup {_num(c["speedup"])}; the first compiled call '
            f'(compilation) took {c["first_call_s"]:.1f} s.', '']


def render(out: dict, args) -> str:
    i = out['device']
    lines = [f'# VECA on {i["name"]}', '',
             f'- device: {i["name"]}' + (f', {i["memory_gib"]} GiB, compute '
                                         f'capability {i["capability"]}'
                                         if 'memory_gib' in i else ''),
             f'- driver: {i["driver"]}; torch {i["torch"]}, CUDA '
             f'{i["cuda"]}, cuDNN {i["cudnn"]}; mmcv {i["mmcv"]} (ops CUDA: '
             f'{i["mmcv_ops_cuda"]}); Python {i["python"]}',
             f'- measured {i["date"]}: `{i["command"]}`', '']
    if args.smoke:
        lines += ['**Smoke run: tiny models and sizes; the numbers mean '
                  'nothing.**', '']
    if out['failures']:
        lines += ['## Failed checks', ''] + [f'- {f}' for f in
                                             out['failures']] + ['']
    if 'backbone' in out:
        lines += md_backbone(out['backbone'], i)
    if 'sdpa' in out:
        lines += md_sdpa(out['sdpa'])
    if 'train' in out:
        lines += md_train(out['train'], args)
    if 'compile' in out:
        lines += md_compile(out['compile'])
    return '\n'.join(lines)


# ---------------------------------------------------------------------- #
SECTIONS = dict(backbone=section_backbone, sdpa=section_sdpa,
                train=section_train, compile=section_compile)


def _batch_arg(text: str) -> tuple:
    size, _, batch = text.partition('=')
    if not (size.isdigit() and batch.isdigit() and int(batch) > 0):
        raise argparse.ArgumentTypeError(
            f'--batch wants SIZE=BATCH (e.g. 1024=8), got {text!r}')
    return int(size), int(batch)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda', help='cuda, cuda:N or cpu')
    p.add_argument('--smoke', action='store_true',
                   help='tiny models and sizes: every code path in seconds')
    p.add_argument('--out', default='work_dirs/gpu_report/report.md',
                   help='markdown report (a .json beside it)')
    p.add_argument('--sections', nargs='+', choices=list(SECTIONS),
                   default=list(SECTIONS))
    p.add_argument('--sizes', type=int, nargs='+', default=[512, 1024, 2048])
    p.add_argument('--veca-sizes', type=int, nargs='*', default=[4096],
                   help='sizes measured for VECA only')
    p.add_argument('--budgets', type=int, nargs='+', default=[8, 16, 64])
    p.add_argument('--batch', type=_batch_arg, nargs='+', default=[],
                   help='SIZE=BATCH, over the built-in choice per size')
    p.add_argument('--peak-tflops', type=float,
                   help='dense bf16 peak for the MFU (default: by name)')
    p.add_argument('--min-time', type=float, default=1.0,
                   help='seconds timed per case (at least)')
    p.add_argument('--min-iters', type=int, default=3)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--math-fail-size', type=int, default=1024)
    p.add_argument('--configs', nargs='+', default=list(TRAIN_CONFIGS))
    p.add_argument('--train-iters', type=int, default=20)
    p.add_argument('--train-dtypes', nargs='+', default=['bf16', 'fp16'],
                   choices=list(TRAIN_DTYPES),
                   help='fp32: no autocast (mmcv\'s CPU ops are fp32 only)')
    p.add_argument('--train-batch', type=int,
                   help='images per GPU (default: the config\'s)')
    p.add_argument('--fp16-rtol', type=float, default=0.1)
    p.add_argument('--compile-size', type=int, default=1024)
    p.add_argument('--compile-backend', default='inductor')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--launcher', choices=['none', 'pytorch'],
                   default='none')
    args = p.parse_args(argv)
    return finish_args(p, args, sys.argv[1:] if argv is None else argv)


def finish_args(p, args, argv):
    """The --smoke sizes (where not given) and the checks."""
    given = {a.split('=')[0] for a in argv if a.startswith('--')}
    smoke = dict(sizes=[32, 64], veca_sizes=[128], budgets=[8, 16],
                 min_time=0.0, min_iters=1, warmup=0, train_iters=2,
                 compile_size=64, compile_backend='eager')
    if args.smoke:
        for key, value in smoke.items():
            if '--' + key.replace('_', '-') not in given:
                setattr(args, key, value)
    args.veca_arch = dict(TINY_VECA) if args.smoke else VECA_B
    args.timm_kwargs = dict(TINY_TIMM) if args.smoke else {}
    args.sam_kwargs = dict(TINY_SAM) if args.smoke else {}
    batch = {} if args.smoke else dict(GPU_BATCH)
    batch.update(dict(args.batch))
    args.batch = batch
    if args.launcher != 'none' and args.sections != ['train']:
        p.error('--launcher pytorch measures the training step only: add '
                '--sections train (the other sections are one-GPU numbers)')
    return args


def resolve_device(args) -> torch.device:
    device = torch.device(args.device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise SystemExit('gpu_report: torch sees no CUDA device; on a '
                             'CPU run `--device cpu --smoke` (tiny sizes: '
                             'the code paths, not numbers).')
        if args.launcher != 'none':
            device = torch.device('cuda', int(os.environ.get('LOCAL_RANK',
                                                             0)))
        elif device.index is None:  # set_device wants an index
            device = torch.device('cuda', torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


def write(out: dict, args) -> None:
    import json

    from veca_mm.utils.atomic_io import atomic_write_bytes
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    atomic_write_bytes((render(out, args) + '\n').encode(), args.out)
    atomic_write_bytes(json.dumps(out, indent=1, default=str).encode(),
                       osp.splitext(args.out)[0] + '.json')


def main(argv=None) -> int:
    args = parse_args(argv)
    device = resolve_device(args)
    import veca_mm  # noqa: F401  (registers VECA, LN2d, the neck ...)
    out = dict(device=device_info(device), failures=[])
    out['device']['peak_override'] = args.peak_tflops
    rank0 = int(os.environ.get('RANK', 0)) == 0
    for name in args.sections:
        t0 = time.perf_counter()
        with cpu_smoke_threads(args, device):
            SECTIONS[name](args, device, out)
        out.setdefault('section_s', {})[name] = time.perf_counter() - t0
        print(f'[gpu_report] {name}: {out["section_s"][name]:.1f} s',
              flush=True)
        if rank0:
            write(out, args)
    if rank0:
        print(f'[gpu_report] wrote {args.out}')
        for failure in out['failures']:
            print(f'[gpu_report] FAILED: {failure}')
    return 1 if out['failures'] else 0


if __name__ == '__main__':
    sys.exit(main())
