# Copyright (c) veca_mm contributors. Apache-2.0.
"""How fine-tuning moved VECA's cores, per layer and per core.

Compares two checkpoints of the same VECA (e.g. the initialisation or the
pretrained model, and the fine-tuned one):

- the bank: cosine similarity of each core's learned initial token, and the
  displacement of its initial coordinate (in [-1, 1] image units);
- with ``--config`` (and images: ``--image`` files, or the first
  ``--num-images`` of the config's test set, through its test pipeline),
  per layer and core at the full bank: cosine of the core's output token,
  displacement of its position, and the IoU of its top-k attended patches
  (``--topk`` fraction of the patches; softmax weights from
  ``VECA.record_attention``, averaged over heads) before vs after.

Each number comes with its chance level (cosine between *different* cores of
the same checkpoint; IoU of two random top-k sets), so "moved a lot" has a
scale. Writes ``core_drift.{csv,json,png}`` and prints a per-layer table.

    python tools/analysis_tools/core_drift.py BEFORE.pth AFTER.pth \
        [--config CONFIG] [--image IMG ...] [--num-images 4] [--out-dir DIR]
"""
import argparse
import csv
import json
import os
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

from veca_mm.models.backbones.released_format import extract_veca_state_dict
from veca_mm.utils.cli import (add_cfg_options_argument, build_model,
                               load_config)
from veca_mm.utils.safe_load import load_checkpoint_safely


def load_backbone_state(path):
    if not osp.isfile(path):
        raise SystemExit(f'checkpoint {path} not found')
    state, _ = extract_veca_state_dict(
        load_checkpoint_safely(path, map_location='cpu'), path)
    return state


def bank(state):
    """The bank's initial tokens ``M x D`` and coordinates ``M x 2``."""
    def cat(prefix):
        keys = sorted((k for k in state if k.startswith(prefix)),
                      key=lambda k: int(k.split('.')[1]))
        return torch.cat([state[k].float().reshape(-1, state[k].shape[-1])
                          for k in keys])
    return cat('query_token_chunks.'), torch.tanh(cat('qcoord_chunks.'))


def off_diagonal_cosine(x):
    """Mean cosine between different rows: the 'unrelated core' level."""
    x = F.normalize(x.float(), dim=-1)
    sim = x @ x.transpose(-1, -2)
    n = sim.shape[-1]
    off = sim[..., ~torch.eye(n, dtype=torch.bool)]
    return float(off.mean())


def topk_iou(a, b, k):
    """IoU of the top-k entries of ``a`` and ``b`` (``... x N``)."""
    ia = a.topk(k, dim=-1).indices
    ib = b.topk(k, dim=-1).indices
    n = a.shape[-1]
    ma = torch.zeros(*a.shape[:-1], n, dtype=torch.bool).scatter_(-1, ia, True)
    mb = torch.zeros(*b.shape[:-1], n, dtype=torch.bool).scatter_(-1, ib, True)
    inter = (ma & mb).sum(-1).float()
    return inter / (2 * k - inter)


def chance_topk_iou(n, k):
    """Expected IoU of two independent random k-subsets of n items."""
    e_inter = k * k / n
    return e_inter / (2 * k - e_inter)


def layer_outputs(backbone, inputs):
    """Per layer at the full bank: core tokens ``B x M x D``, positions
    ``B x M x 2`` and the cores' attention over the patches (mean over
    heads, ``B x M x N``), from the model's own recording paths."""
    tokens = []

    def hook(block, args, out):
        tokens.append(out[:, :args[2]].detach())  # forward(x, cis, C)

    handles = [b.register_forward_hook(hook) for b in backbone.blocks]
    old = backbone.core_budgets
    backbone.set_core_budgets(backbone.num_cores)
    try:
        with torch.inference_mode(), backbone.record_cores() as pos, \
                backbone.record_attention() as attn:
            backbone(inputs)
    finally:
        backbone.set_core_budgets(old)
        for h in handles:
            h.remove()
    M = backbone.num_cores
    return (tokens, [p.clone() for p in pos],
            [a.mean(1)[:, :, M:].clone() for a in attn])


def load_inputs(cfg, model, images, num_images):
    """A batch of preprocessed inputs: image files, or test-set samples."""
    if images:
        import cv2
        batch = []
        for path in images:
            img = cv2.imread(path)
            if img is None:
                raise SystemExit(f'could not read image {path}')
            batch.append(torch.from_numpy(img).permute(2, 0, 1).contiguous())
        # one forward per image: sizes may differ
        # a sample each to carry the test-time padding metainfo
        return [model.data_preprocessor(
            dict(inputs=[b], data_samples=[BaseDataElement()]),
            False)['inputs'] for b in batch]
    from mmengine.registry import DATASETS
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.indices = num_images
    dataset = DATASETS.build(ds_cfg)
    out = []
    for i in range(len(dataset)):
        sample = dataset[i]
        out.append(model.data_preprocessor(
            dict(inputs=[sample['inputs']],
                 data_samples=[sample['data_samples']]), False)['inputs'])
    return out


def compare_layers(cfg, before, after, images, num_images, topk):
    """Per layer x core means over the images of the three measures."""
    cfg.model.backbone.init_cfg = None
    cfg.model.pop('pretrained', None)
    runs = []
    inputs = None
    for state in (before, after):
        model = build_model(cfg)
        model.backbone.load_veca_state_dict(state, source='core_drift')
        model.eval()
        if inputs is None:
            inputs = load_inputs(cfg, model, images, num_images)
        runs.append([layer_outputs(model.backbone, x) for x in inputs])
    L = len(runs[0][0][0])
    cos = [[] for _ in range(L)]
    disp = [[] for _ in range(L)]
    iou = [[] for _ in range(L)]
    cos_other = [[] for _ in range(L)]
    chance = []
    for (tb, pb, ab), (ta, pa, aa) in zip(*runs):
        n = ab[0].shape[-1]
        k = max(1, int(round(topk * n)))
        chance.append(chance_topk_iou(n, k))
        for i in range(L):
            cos[i].append(F.cosine_similarity(tb[i], ta[i], dim=-1).mean(0))
            disp[i].append((pb[i] - pa[i]).norm(dim=-1).mean(0))
            iou[i].append(topk_iou(ab[i], aa[i], k).mean(0))
            cos_other[i].append(off_diagonal_cosine(ta[i]))
    stack = lambda v: torch.stack([torch.stack(x).mean(0) for x in v])  # noqa
    return dict(cos=stack(cos), disp=stack(disp), iou=stack(iou),
                cos_other=[float(np.mean(x)) for x in cos_other],
                chance_iou=float(np.mean(chance)))


def plot(result, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [('bank token cosine', result['bank_cos'][None], (-1, 1)),
              ('bank coord displacement', result['bank_disp'][None], None)]
    if 'layers' in result:
        lay = result['layers']
        panels += [('core output cosine', lay['cos'], (-1, 1)),
                   ('position displacement', lay['disp'], None),
                   ('top-k attention IoU', lay['iou'], (0, 1))]
    fig, axes = plt.subplots(len(panels), 1,
                             figsize=(7, 1.2 + 1.3 * len(panels)),
                             squeeze=False)
    for ax, (title, data, lim) in zip(axes[:, 0], panels):
        data = np.asarray(data, dtype=float)
        im = ax.imshow(data, aspect='auto', cmap='viridis',
                       vmin=lim[0] if lim else 0,
                       vmax=lim[1] if lim else max(data.max(), 1e-6))
        ax.set_title(title, fontsize=9)
        ax.set_ylabel('layer' if data.shape[0] > 1 else '')
        ax.set_yticks(range(data.shape[0]))
        fig.colorbar(im, ax=ax, fraction=0.03)
    axes[-1, 0].set_xlabel('core index')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('before', help='checkpoint before fine-tuning')
    p.add_argument('after', help='checkpoint after fine-tuning')
    p.add_argument('--config', default=None,
                   help='model config: enables the per-layer comparison')
    p.add_argument('--image', nargs='*', default=[],
                   help='image files (default: the config\'s test set)')
    p.add_argument('--num-images', type=int, default=4)
    p.add_argument('--topk', type=float, default=0.1,
                   help='fraction of the patches in a core\'s top-k set')
    p.add_argument('--out-dir', default='work_dirs/core_drift')
    add_cfg_options_argument(p)
    args = p.parse_args(argv)
    if not 0 < args.topk < 1:
        p.error(f'--topk is a fraction in (0, 1), got {args.topk}')
    if args.image and not args.config:
        p.error('--image needs --config (the model and its preprocessing)')
    return args


def compare_banks(before, after) -> dict:
    """Per core: cosine of the initial tokens, displacement of the initial
    coordinates; and the levels to read them against."""
    if set(before) != set(after) or any(before[k].shape != after[k].shape
                                        for k in before):
        raise SystemExit('the two checkpoints are not the same VECA arch '
                         '(different keys or shapes): nothing to compare.')
    tb, cb = bank(before)
    ta, ca = bank(after)
    return dict(
        bank_cos=F.cosine_similarity(tb, ta, dim=-1),
        bank_disp=(cb - ca).norm(dim=-1),
        bank_cos_other=off_diagonal_cosine(ta),
        bank_norm_ratio=float(ta.norm(dim=-1).mean() / tb.norm(dim=-1).mean()))


def write_csv(result, path) -> None:
    """A row per core of the bank, then per layer and core."""
    M = result['bank_cos'].shape[0]
    rows = [dict(where='bank', core=c, cosine=float(result['bank_cos'][c]),
                 displacement=float(result['bank_disp'][c]), topk_iou='')
            for c in range(M)]
    lay = result.get('layers')
    if lay:
        for i in range(lay['cos'].shape[0]):
            rows += [dict(where=f'layer{i}', core=c,
                          cosine=float(lay['cos'][i, c]),
                          displacement=float(lay['disp'][i, c]),
                          topk_iou=float(lay['iou'][i, c]))
                     for c in range(M)]
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def summarize(args, result) -> dict:
    """The JSON summary, printed as it is built."""
    M = result['bank_cos'].shape[0]
    summary = dict(
        before=args.before, after=args.after, num_cores=M,
        bank=dict(cosine_mean=float(result['bank_cos'].mean()),
                  cosine_min=float(result['bank_cos'].min()),
                  displacement_mean=float(result['bank_disp'].mean()),
                  displacement_max=float(result['bank_disp'].max()),
                  token_norm_ratio=result['bank_norm_ratio'],
                  chance_cosine=result['bank_cos_other']))
    bk = summary['bank']
    print(f'bank ({M} cores): token cosine mean {bk["cosine_mean"]:.3f} '
          f'(min {bk["cosine_min"]:.3f}; different cores '
          f'{result["bank_cos_other"]:.3f}), coordinate displacement mean '
          f'{bk["displacement_mean"]:.3f} (max {bk["displacement_max"]:.3f})'
          f' in [-1, 1] units, token norm after/before '
          f'{result["bank_norm_ratio"]:.2f}')
    lay = result.get('layers')
    if lay:
        summary['layers'] = [
            dict(layer=i, cosine_mean=float(lay['cos'][i].mean()),
                 chance_cosine=lay['cos_other'][i],
                 displacement_mean=float(lay['disp'][i].mean()),
                 topk_iou_mean=float(lay['iou'][i].mean()),
                 topk_iou_min=float(lay['iou'][i].min()))
            for i in range(lay['cos'].shape[0])]
        summary['chance_topk_iou'] = lay['chance_iou']
        print(f'\nper layer, mean over {M} cores and the images (top '
              f'{args.topk:.0%} patches; random-set IoU '
              f'{lay["chance_iou"]:.3f}):')
        print('| layer | output cosine | different cores | position '
              'displacement | top-k IoU (min) |')
        print('|---:|---:|---:|---:|---:|')
        for r in summary['layers']:
            print(f'| {r["layer"]} | {r["cosine_mean"]:.3f} | '
                  f'{r["chance_cosine"]:.3f} | {r["displacement_mean"]:.3f}'
                  f' | {r["topk_iou_mean"]:.3f} ({r["topk_iou_min"]:.3f}) |')
    return summary


def main(argv=None):
    args = parse_args(argv)
    before = load_backbone_state(args.before)
    after = load_backbone_state(args.after)
    result = compare_banks(before, after)
    if args.config:
        cfg = load_config(args.config, args.cfg_options)
        result['layers'] = compare_layers(cfg, before, after, args.image,
                                          args.num_images, args.topk)
    os.makedirs(args.out_dir, exist_ok=True)
    write_csv(result, osp.join(args.out_dir, 'core_drift.csv'))
    summary = summarize(args, result)
    with open(osp.join(args.out_dir, 'core_drift.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    plot(result, osp.join(args.out_dir, 'core_drift.png'))
    print(f'wrote {args.out_dir}/core_drift.{{csv,json,png}}')
    return summary


if __name__ == '__main__':
    main()
