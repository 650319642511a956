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

import numpy as np
import torch
from mmengine.structures import BaseDataElement

from veca_mm.utils.cli import (add_cfg_options_argument, build_model,
                               load_config)
from veca_mm.utils.core_budgets import check_core_budgets


def core_attention_maps(model, image):
    """Per layer: ``C x Hp x Wp`` attention of each core over the patches and
    the cores' positions ``C x 2``. The weights are the ones the model's own
    ``CoreAttention`` computes (``VECA.record_attention``)."""
    backbone = model.backbone
    with torch.inference_mode(), backbone.record_cores() as positions, \
            backbone.record_attention() as weights:
        # a sample to carry the test-time padding (size_divisor) metainfo
        data = model.data_preprocessor(
            dict(inputs=[image], data_samples=[BaseDataElement()]), False)
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('image')
    p.add_argument('--budgets', type=int, nargs=2, default=None,
                   help='two budgets (default: smallest chunk and all)')
    p.add_argument('--out-dir', default=None)
    add_cfg_options_argument(p)
    return p.parse_args(argv)


def plot_attention(results, budgets, path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(budgets),
                             figsize=(6 * len(budgets), 6 * len(
                                 results[budgets[0]][0]) / 8 + 1))
    for ax, b in zip(np.atleast_1d(axes), budgets):
        ax.imshow(tile_attention(results[b][0]))
        ax.set_title(f'C={b}: a block per layer (top = first), a tile per '
                     'core')
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_trajectories(img, results, budgets, path) -> None:
    """Each core's position across the layers, drawn on the image."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
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
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import cv2
    from mmengine.runner import load_checkpoint

    cfg = load_config(args.config, args.cfg_options, random_init=True)
    if args.budgets:
        check_core_budgets(cfg, args.budgets, '--budgets')
    model = build_model(cfg)
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
    att_png = osp.join(out_dir, 'cores_attention.png')
    traj_png = osp.join(out_dir, 'cores_trajectories.png')
    plot_attention(results, budgets, att_png)
    plot_trajectories(img, results, budgets, traj_png)
    print(f'wrote {att_png} and {traj_png}')
    return att_png, traj_png, results


if __name__ == '__main__':
    main()
