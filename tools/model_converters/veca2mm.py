# Copyright (c) veca_mm contributors. Apache-2.0.
"""Convert a released VECA checkpoint into a weights-only mm checkpoint.

The result holds ``state_dict`` with ``backbone.``-prefixed keys and, under
``meta.veca_args``, every ``VECA`` argument the released config fixes (arch
with the distillation width, patch size, core chunk, patch norm, RoPE and
coordinate fields), so ``init_cfg=dict(type='Pretrained', ...)``,
``veca_mm.apis.init_backbone`` and ``load_from`` read it without unpickling
anything but tensors and plain data, and refuse a VECA that would compute
something else. It prints the ``backbone=dict(...)`` block to paste into a
config.

    python tools/model_converters/veca2mm.py veca_small.pt checkpoints/veca_small.pth
    python tools/model_converters/veca2mm.py veca_small.pt --print-config
"""
import argparse
import logging
import os
import os.path as osp
import sys

import torch
from mmengine.logging import MMLogger

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from veca_mm.models.backbones.arch import arch_name  # noqa: E402
from veca_mm.models.backbones.released_format import (  # noqa: E402
    extract_veca_state_dict)
from veca_mm.models.backbones.veca import VECA  # noqa: E402
from veca_mm.utils.safe_load import load_checkpoint_safely  # noqa: E402


def _read_released(src: str):
    ckpt = load_checkpoint_safely(src, map_location='cpu')
    if not isinstance(ckpt, dict) or 'student' not in ckpt or not isinstance(
            ckpt.get('config'), dict):
        found = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else \
            type(ckpt).__name__
        raise ValueError(
            f'{src} is not a released VECA checkpoint: expected a dict with '
            f'"student" (the weights) and "config", found {found}.')
    state, args = extract_veca_state_dict(ckpt, src)
    # Build and load strictly once: a file whose weights disagree with its
    # own config is refused here, not at fine-tuning time.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # stdout is for the printed config
    try:
        VECA(**args).load_veca_state_dict(state, args['arch'], source=src,
                                          description=args)
    finally:
        logger.setLevel(level)
    return ckpt, state, args


def _fmt(v) -> str:
    if isinstance(v, dict):
        return 'dict(' + ', '.join(f'{k}={_fmt(x)}' for k, x in v.items()) \
            + ')'
    return repr(v)


def backbone_config(args: dict, checkpoint: str) -> str:
    """The ``backbone=dict(...)`` block for ``args`` (VECA arguments)."""
    lines = ["backbone=dict(", "    type='VECA',"]
    arch = arch_name(args['arch'])
    if isinstance(arch, dict):
        lines.append('    # over a base config with a named arch, add '
                     '_delete_=True to this arch dict')
    for k, v in dict(args, arch=arch).items():
        lines.append(f'    {k}={_fmt(v)},')
    L = args['arch']['num_layers']
    idx = tuple(L * q // 4 - 1 for q in (1, 2, 3, 4))
    lines.append(f'    out_indices={idx},  # or -1 (ViTDet / linear probe)')
    lines.append('    distill_proj=False,  # True: features in the teacher '
                 'space')
    lines.append("    init_cfg=dict(type='Pretrained', "
                 f"checkpoint={checkpoint!r})),")
    return '\n'.join(lines)


def convert(src: str, dst: str) -> dict:
    """Write ``dst``; return its ``meta``."""
    ckpt, state, args = _read_released(src)
    meta = dict(veca_args=args, veca_arch=args['arch'],
                veca_arch_name=arch_name(args['arch']),
                patch_norm=args['patch_norm'], patch_size=args['patch_size'],
                core_chunk=args['core_chunk'], source=osp.basename(src),
                released_config=dict(ckpt['config']))
    out = dict(state_dict={f'backbone.{k}': v.contiguous()
                           for k, v in state.items()}, meta=meta)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save(out, tmp)
    os.replace(tmp, dst)
    return meta


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released checkpoint (.pt)')
    parser.add_argument('dst', nargs='?', help='output mm checkpoint (.pth)')
    parser.add_argument('--print-config', action='store_true',
                        help='only print the backbone=dict(...) block')
    args = parser.parse_args(argv)
    if args.print_config:
        _, _, vargs = _read_released(args.src)
        print(backbone_config(vargs, args.dst or 'CONVERTED.pth'))
        return
    if not args.dst:
        parser.error('give DST, or --print-config')
    meta = convert(args.src, args.dst)
    print(f'wrote {args.dst}: arch={meta["veca_arch_name"]}, '
          f'patch_norm={meta["patch_norm"]}, core_chunk={meta["core_chunk"]}'
          '\nPaste into your config:\n')
    print(backbone_config(meta['veca_args'], args.dst))


if __name__ == '__main__':
    main()
