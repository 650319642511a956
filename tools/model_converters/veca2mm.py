# Copyright (c) veca_mm contributors. Apache-2.0.
"""Convert a released VECA checkpoint into a weights-only mm checkpoint.

The result holds ``state_dict`` with ``backbone.``-prefixed keys and the arch
under ``meta.veca_arch``, so ``init_cfg=dict(type='Pretrained', ...)`` and
``load_from`` read it without unpickling anything but tensors and plain data.

    python tools/model_converters/veca2mm.py veca_base.pt checkpoints/veca_base.pth
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from veca_mm.models.backbones.veca import (  # noqa: E402
    arch_from_released_config, arch_name, extract_veca_state_dict)
from veca_mm.utils.safe_load import load_checkpoint_safely  # noqa: E402


def convert(src: str, dst: str) -> dict:
    ckpt = load_checkpoint_safely(src, map_location='cpu')
    if not isinstance(ckpt, dict) or 'student' not in ckpt or not isinstance(
            ckpt.get('config'), dict):
        found = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else \
            type(ckpt).__name__
        raise ValueError(
            f'{src} is not a released VECA checkpoint: expected a dict with '
            f'"student" (the weights) and "config", found {found}.')
    state, _ = extract_veca_state_dict(ckpt, src)
    cfg = ckpt['config']
    arch = arch_from_released_config(cfg)
    meta = dict(veca_arch=arch, veca_arch_name=arch_name(arch),
                patch_norm=bool(cfg.get('patch_embed_use_ln', False)),
                patch_size=int(cfg.get('patch_size', 16)),
                core_chunk=int(cfg.get('nested_chunk_size', 8)),
                source=osp.basename(src))
    out = dict(state_dict={f'backbone.{k}': v.contiguous()
                           for k, v in state.items()}, meta=meta)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save(out, tmp)
    os.replace(tmp, dst)
    return meta


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released checkpoint (.pt)')
    parser.add_argument('dst', help='output mm checkpoint (.pth)')
    args = parser.parse_args()
    meta = convert(args.src, args.dst)
    print(f'wrote {args.dst}: arch={meta["veca_arch_name"]}, '
          f'patch_norm={meta["patch_norm"]}, core_chunk={meta["core_chunk"]}')


if __name__ == '__main__':
    main()
