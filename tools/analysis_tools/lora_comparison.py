# Copyright (c) veca_mm contributors. Apache-2.0.
"""A pretrained VECA on a new dense task: linear probe, LoRA, full fine-tuning.

1. pretrains the tiny VECA of the mini ADE20K config on a generated mini
   ADE20K (``pretrain``),
2. adapts it to a generated mini Cityscapes (other classes, other layout)
   with the same optimizer, iterations and seed: ``probe`` (frozen VECA +
   linear head, the repo's linear-probe form), ``frozen`` (frozen VECA +
   the UPerNet neck and heads), ``lora-r<R>`` (``VECALoRA`` with rank-R
   adapters on q, k, v, proj, fc1, fc2 + UPerNet) and ``full`` (every
   weight, UPerNet), and records trainable parameters, the saved weights,
   peak training RSS, s/iter and mIoU at C=8 and the full budget C=32,
3. measures peak RSS of one VECA-B training step (forward, backward,
   AdamW step; batch 1 at 512x512, backbone + a 1x1 conv head) per variant
   (``big-<variant>``).

Every case runs in its own process and writes ``WORK/results/<case>.json``;
a second run skips the cases already there (resumable). The markdown table
goes to stdout and ``--out``.

    python tools/analysis_tools/lora_comparison.py --work-dir work_dirs/lora_comparison
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

from veca_mm.utils import bench
from veca_mm.utils.md_table import markdown_table

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MINI_ADE = osp.join(ROOT, 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py')
MINI_CS = osp.join(ROOT, 'configs/mini/upernet_veca-t_1xb2-200_mini-cityscapes-128x256.py')
FAST = {f'{s}_dataloader.{k}': v for s in ('train', 'val', 'test')
        for k, v in (('num_workers', 0), ('persistent_workers', False))}
BUDGETS = (8, 32)  # the smallest and the full budget of the tiny VECA


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--work-dir', default='work_dirs/lora_comparison')
    p.add_argument('--pretrain-iters', type=int, default=300)
    p.add_argument('--iters', type=int, default=100,
                   help='adaptation iterations, the same for every variant')
    p.add_argument('--ranks', type=int, nargs='+', default=[4, 16])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-big', action='store_true',
                   help='skip the VECA-B 512x512 memory cases')
    p.add_argument('--out', help='also write the markdown table here')
    p.add_argument('--_case', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def variants(ranks):
    return ['probe', 'frozen'] + [f'lora-r{r}' for r in ranks] + ['full']


# ---------------------------------------------------------------------- #
# Configs.
def schedule(iters: int) -> dict:
    warm = max(1, iters // 10)
    return {
        'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.logger.interval': max(1, iters // 10),
        'param_scheduler': [
            dict(type='LinearLR', start_factor=1e-3, by_epoch=False,
                 begin=0, end=warm),
            dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False,
                 begin=warm, end=iters)]}


def data_options(root: str) -> dict:
    return {f'{s}_dataloader.dataset.data_root': root
            for s in ('train', 'val', 'test')}


def pretrain_config(case: dict):
    from veca_mm.utils.cli import load_config
    opts = dict(FAST, **schedule(case['iters']), **data_options(case['data']))
    opts['randomness.seed'] = case['seed']
    cfg = load_config(MINI_ADE, opts)
    cfg.work_dir = case['work_dir']
    return cfg


def adapt_config(case: dict):
    """Mini Cityscapes data and heads, the pretrained tiny VECA's arch."""
    from veca_mm.utils.cli import load_config
    ade = load_config(MINI_ADE)
    opts = dict(FAST, **schedule(case['iters']), **data_options(case['data']))
    opts['randomness.seed'] = case['seed']
    cfg = load_config(MINI_CS, opts)
    cfg.work_dir = case['work_dir']
    model = cfg.model
    model.backbone = ade.model.backbone
    model.backbone.init_cfg = dict(type='Pretrained',
                                   checkpoint=case['base'])
    for key in ('in_channels', 'out_channels'):
        model.neck[key] = ade.model.neck[key]
    for head in ('decode_head', 'auxiliary_head'):
        for key in ('in_channels', 'channels'):
            model[head][key] = ade.model[head][key]
    return apply_variant(cfg, case['variant'])


def apply_variant(cfg, variant: str):
    backbone = cfg.model.backbone
    if variant in ('probe', 'frozen'):
        backbone.update(frozen=True, train_core_budgets=None,
                        drop_path_rate=0.)
    if variant == 'probe':  # the repo's linear probe: last map + CLS
        backbone.update(out_indices=-1, output_cls_token=True)
        cfg.model.pop('neck')
        cfg.model.pop('auxiliary_head')
        cfg.model.test_cfg = dict(mode='whole')  # no tiled version
        cfg.model.decode_head = dict(
            type='LinearProbeHead', in_channels=backbone.arch.embed_dims,
            concat_cls_token=True, num_classes=19,
            norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False, loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
    elif variant.startswith('lora-r'):
        rank = int(variant[len('lora-r'):])
        backbone.update(type='VECALoRA', lora=dict(rank=rank, alpha=rank))
    elif variant not in ('frozen', 'full'):
        raise ValueError(f'unknown variant {variant!r}')
    return cfg


# ---------------------------------------------------------------------- #
# Cases (each in its own process).
def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def saved_bytes(path: str) -> int:
    from veca_mm.utils.safe_load import load_checkpoint_safely
    state = load_checkpoint_safely(path, map_location='cpu')['state_dict']
    return sum(t.numel() * t.element_size() for t in state.values())


def train_case(cfg) -> dict:
    """Train; peak RSS, s/iter, trainable parameters and saved bytes."""
    import numpy as np
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    mem = bench.measure_peak_rss(runner.train)
    times = np.asarray(runner.message_hub.get_scalar('train/time').data[0])
    ckpt = osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    return runner, dict(
        status='ok', trainable_params=trainable(runner.model),
        saved_bytes=saved_bytes(ckpt), checkpoint=ckpt,
        peak_rss_bytes=mem['mem_peak_total_bytes'],
        s_per_iter=float(np.median(times[min(5, len(times) - 1):])))


def run_adapt(case: dict) -> dict:
    runner, res = train_case(adapt_config(case))
    backbone = runner.model.backbone
    for budget in BUDGETS:
        backbone.set_core_budgets(budget)
        res[f'mIoU_c{budget}'] = float(runner.val_loop.run()['mIoU'])
    return res


def run_pretrain(case: dict) -> dict:
    runner, res = train_case(pretrain_config(case))
    res['mIoU'] = float(runner.val_loop.run()['mIoU'])
    return res


def run_big(case: dict) -> dict:
    """One VECA-B training step at 512x512 (batch 1): peak RSS growth."""
    import torch
    from veca_mm.models.backbones import VECA, VECALoRA
    args = dict(arch='base', out_indices=-1, core_budgets=64)
    variant = case['variant']
    if variant in ('probe', 'frozen'):
        backbone = VECA(**args, frozen=True)
    elif variant.startswith('lora-r'):
        r = int(variant[len('lora-r'):])
        backbone = VECALoRA(**args, lora=dict(rank=r, alpha=r))
    else:
        backbone = VECA(**args)
    head = torch.nn.Conv2d(768, 150, 1)
    model = torch.nn.ModuleList([backbone, head]).train()
    opt = torch.optim.AdamW([p for p in model.parameters()
                             if p.requires_grad], lr=1e-4)
    x = torch.randn(1, 3, 512, 512)
    target = torch.randint(0, 150, (1, 32, 32))

    def step():
        loss = torch.nn.functional.cross_entropy(head(backbone(x)[0]),
                                                 target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    mem = bench.measure_peak_rss(step)
    return dict(status='ok', big_trainable_params=trainable(model),
                big_step_bytes=mem['mem_bytes'],
                big_peak_rss_bytes=mem['mem_peak_total_bytes'],
                mem_method=mem['mem_method'])


CASES = dict(pretrain=run_pretrain, adapt=run_adapt, big=run_big)


# ---------------------------------------------------------------------- #
# Parent side.
def make_data(work: str) -> dict:
    """The two generated sets (once): their data roots."""
    roots = dict(ade=osp.join(work, 'data', 'ADEChallengeData2016'),
                 cs=osp.join(work, 'data', 'cityscapes'))
    gens = dict(ade=['make_mini_ade20k.py', '--num-train', '40',
                     '--num-val', '10', '--size', '96'],
                cs=['make_mini_cityscapes.py', '--num-train', '16',
                    '--num-val', '6', '--height', '128', '--width', '256'])
    for key, (script, *args) in gens.items():
        if not osp.isdir(roots[key]):
            subprocess.run([sys.executable, osp.join(
                ROOT, 'tools', 'dataset_converters', script),
                osp.join(work, 'data'), *args], check=True,
                stdout=subprocess.DEVNULL)
    return roots


def run_case(args, name: str, case: dict) -> dict:
    """The stored result of ``name``, or run it in a fresh process."""
    path = osp.join(args.work_dir, 'results', f'{name}.json')
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    print(f'running {name} ...', flush=True)
    # one thread: as fast for the tiny model, and no spin-waiting on a
    # shared machine
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    res = bench.spawn_case(__file__, [], case, env=env)
    if res.get('status') != 'ok':
        raise SystemExit(f'{name} failed: {res.get("error")}')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(res, f, indent=1)
    return res


def run_all(args) -> dict:
    work = osp.abspath(args.work_dir)
    roots = make_data(work)
    common = dict(seed=args.seed)
    pre = run_case(args, 'pretrain', dict(
        common, kind='pretrain', iters=args.pretrain_iters,
        data=roots['ade'], work_dir=osp.join(work, 'pretrain')))
    rows = dict(pretrain=pre)
    for v in variants(args.ranks):
        rows[v] = run_case(args, v, dict(
            common, kind='adapt', variant=v, iters=args.iters,
            data=roots['cs'], base=pre['checkpoint'],
            work_dir=osp.join(work, v)))
        if not args.no_big:
            rows[v].update(run_case(args, f'big-{v}',
                                    dict(kind='big', variant=v)))
    return rows


def table(rows: dict, args) -> str:
    mib = 2.0**20
    lines = []
    for v in variants(args.ranks):
        r = rows[v]
        big = (f'{r["big_step_bytes"] / 2**30:.2f} GiB '
               f'({r["big_trainable_params"] / 1e6:.2f} M trained)'
               if 'big_step_bytes' in r else '–')
        lines.append((v, f'{r["trainable_params"] / 1e3:.0f} k',
                      f'{r["saved_bytes"] / mib:.2f} MiB',
                      f'{r["peak_rss_bytes"] / mib:.0f} MiB',
                      f'{r["s_per_iter"]:.3f}', f'{r["mIoU_c8"]:.2f}',
                      f'{r["mIoU_c32"]:.2f}', big))
    pre = rows['pretrain']
    return markdown_table(
        ('variant', 'trainable params', 'saved weights', 'peak train RSS',
         's/iter', 'mIoU C=8', 'mIoU C=32', 'VECA-B step, RSS growth'),
        lines) + (
            f'\n\nPretrained base: {args.pretrain_iters} iterations on '
            f'mini ADE20K, {pre["mIoU"]:.2f} mIoU there (C=32); '
            f'adaptation: {args.iters} iterations on mini Cityscapes, '
            f'seed {args.seed}.')


def main(argv=None):
    args = parse_args(argv)
    if bench.run_if_case(args, lambda _, case: CASES[case['kind']](case)):
        return None
    text = table(run_all(args), args)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return text


if __name__ == '__main__':
    main()
