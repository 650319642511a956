# Copyright (c) veca_mm contributors. Apache-2.0.
"""See what the cores do: their attention over the patches and their paths.

For two core budgets side by side, writes
- ``cores_attention.png``: per layer (rows), each core's attention over the
  patches (columns; softmax over all keys, averaged over heads), as heat maps;
- ``cores_trajectories.png``: the cores' positions drawn on the image across
  the layers (a line per core, from its first to its last layer).

    python tools/analysis_tools/visualize_cores.py CONFIG CHECKPOINT IMAGE \
        [--budgets 8 32] [--out-dir DIR]
"""
import argparse
import math
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

import veca_mm  # noqa: E402,F401


def core_attention_maps(model, image):
    """Per layer: ``C x Hp x Wp`` attention of each core over the patches and
    the cores' positions ``C x 2``. The weights are the ones the model's own
    ``CoreAttention`` computes (``VECA.record_attention``)."""
    backbone = model.backbone
    with torch.inference_mode(), backbone.record_cores() as positions, \
            backbone.record_attention() as weights:
        data = model.data_preprocessor(
            dict(inputs=[image], data_samples=None), False)
        inputs = data['inputs']
        backbone(inputs)
    # softmax over all keys, averaged over heads; the patch keys follow the
    # C cores
    captured = [w.float().mean(1)[0, :, w.shape[2]:] for w in weights]
    P = backbone.patch_size
    hp, wp = math.ceil(inputs.shape[2] / P), math.ceil(inputs.shape[3] / P)
    maps = [a.reshape(-1, hp, wp).cpu().numpy() for a in captured]
    # positions are in [-1, 1] over the padded grid of hp x wp patches
    return maps, [p[0].cpu().numpy() for p in positions], (hp * P, wp * P)


def tile_attention(maps, cell=24, pad=2, per_row=16):
    """A block of rows per layer (``per_row`` cores a row), a tile per core,
    each map normalised to its own max; a gap separates the layers."""
    import cv2
    blocks = []
    width = min(max(m.shape[0] for m in maps), per_row) * (cell + pad)
    for layer in maps:
        n_rows = -(-layer.shape[0] // per_row)
        block = np.full((n_rows * (cell + pad) + 2 * pad, width, 3), 255,
                        np.uint8)
        for c, m in enumerate(layer):
            m = m / max(m.max(), 1e-12)
            tile = cv2.resize((m * 255).astype(np.uint8), (cell, cell),
                              interpolation=cv2.INTER_NEAREST)
            tile = cv2.applyColorMap(tile, cv2.COLORMAP_INFERNO)[..., ::-1]
            y, x = (c // per_row) * (cell + pad), (c % per_row) * (cell + pad)
            block[y:y + cell, x:x + cell] = tile
        blocks.append(block)
    return np.concatenate(blocks, 0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('image')
    p.add_argument('--budgets', type=int, nargs=2, default=None,
                   help='two budgets (default: smallest chunk and all)')
    p.add_argument('--out-dir', default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)

    import cv2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    backbone = model.backbone
    budgets = args.budgets or [backbone.core_chunk, backbone.num_cores]
    out_dir = args.out_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0], 'cores')
    os.makedirs(out_dir, exist_ok=True)

    img = cv2.imread(args.image)
    if img is None:
        raise SystemExit(f'cannot read image {args.image}')
    tensor = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    results = {}
    for b in budgets:
        backbone.set_core_budgets(b)
        results[b] = core_attention_maps(model, tensor)

    fig, axes = plt.subplots(1, len(budgets),
                             figsize=(6 * len(budgets), 6 * len(
                                 results[budgets[0]][0]) / 8 + 1))
    for ax, b in zip(np.atleast_1d(axes), budgets):
        maps = results[b][0]
        ax.imshow(tile_attention(maps))
        ax.set_title(f'C={b}: a block per layer (top = first), a tile per '
                     'core')
        ax.axis('off')
    fig.tight_layout()
    att_png = osp.join(out_dir, 'cores_attention.png')
    fig.savefig(att_png, dpi=100)
    plt.close(fig)

    rgb = img[..., ::-1]
    fig, axes = plt.subplots(1, len(budgets), figsize=(6 * len(budgets), 5))
    for ax, b in zip(np.atleast_1d(axes), budgets):
        _, positions, (ph, pw) = results[b]
        ax.imshow(rgb, extent=(-1, 2 * img.shape[1] / pw - 1,
                               2 * img.shape[0] / ph - 1, -1))
        n = min(p.shape[0] for p in positions)
        track = np.stack([p[:n] for p in positions])  # L x C x 2
        colors = plt.cm.tab20(np.linspace(0, 1, n))
        for c in range(n):
            ax.plot(track[:, c, 0], track[:, c, 1], '-', color=colors[c],
                    lw=1)
            ax.scatter(track[-1, c, 0], track[-1, c, 1], color=colors[c],
                       s=12)
        ax.set_xlim(-1, 2 * img.shape[1] / pw - 1)
        ax.set_ylim(2 * img.shape[0] / ph - 1, -1)
        ax.set_title(f'C={b}: core paths over {len(positions)} layers')
    fig.tight_layout()
    traj_png = osp.join(out_dir, 'cores_trajectories.png')
    fig.savefig(traj_png, dpi=100)
    plt.close(fig)
    print(f'wrote {att_png} and {traj_png}')
    return att_png, traj_png, results


if __name__ == '__main__':
    main()
