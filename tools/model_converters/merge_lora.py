# Copyright (c) veca_mm contributors. Apache-2.0.
"""Fold the LoRA adapters of a ``VECALoRA`` checkpoint into plain VECA weights.

A LoRA checkpoint holds the adapters, neck and heads (no frozen backbone
weight); its base comes from the config's ``init_cfg`` (``--base`` overrides
it) and must be the base the adapters were trained on. The tool writes

* ``OUT.pth``: a whole-model checkpoint whose backbone is a plain ``VECA``
  (``W + alpha / rank * B A`` in every adapted linear), and
* ``OUT.py`` (``--out-config``): the config with ``type='VECA'``, no
  ``lora`` and no ``init_cfg``,

which ``tools/test.py``, ``tools/image_demo.py`` and
``tools/deployment/pytorch2onnx.py`` take unchanged. Before writing, it
checks that the merged model's features equal the adapted model's on a
random image (``--atol``, default 1e-5).

    python tools/model_converters/merge_lora.py CONFIG LORA.pth merged.pth [--base BASE.pth]
"""
import argparse
import copy
import os.path as osp

import torch

from veca_mm.models.backbones import VECALoRA
from veca_mm.utils.cli import add_cfg_options_argument, build_model, \
    load_config
from veca_mm.utils.safe_load import load_checkpoint_safely


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the LoRA config (backbone VECALoRA)')
    p.add_argument('checkpoint', help='a checkpoint of that config')
    p.add_argument('out', help='the merged checkpoint to write (.pth)')
    p.add_argument('--out-config', help='the plain-VECA config to write '
                   '(default: OUT with .py)')
    p.add_argument('--base', help='the base VECA checkpoint (default: the '
                   "config's model.backbone.init_cfg)")
    p.add_argument('--atol', type=float, default=1e-5,
                   help='largest allowed feature difference merged vs '
                   'adapted (default 1e-5)')
    add_cfg_options_argument(p)
    return p.parse_args(argv)


def merged_config(cfg):
    """The same model with a plain VECA backbone and no pretrained load."""
    cfg = copy.deepcopy(cfg)
    backbone = cfg.model.backbone
    backbone.type = 'VECA'
    backbone.pop('lora')
    backbone.init_cfg = None
    return cfg


def load_adapted(cfg, checkpoint: str):
    """The LoRA model with its checkpoint (and base) loaded strictly."""
    model = build_model(cfg)
    if not isinstance(model.backbone, VECALoRA):
        raise ValueError(
            f'merge_lora.py merges VECALoRA adapters; this config\'s '
            f'backbone is {type(model.backbone).__name__}.')
    ckpt = load_checkpoint_safely(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict') if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{checkpoint} holds no "state_dict".')
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval(), ckpt.get('meta') or {}


@torch.no_grad()
def max_feature_diff(a, b) -> float:
    """Largest difference of ``extract_feat`` on one random image."""
    patch = a.backbone.patch_size
    x = torch.randn(1, a.backbone.in_channels, 6 * patch, 8 * patch,
                    generator=torch.Generator().manual_seed(0))
    fa, fb = a.extract_feat(x), b.extract_feat(x)
    return max(float((p - q).abs().max()) for p, q in zip(fa, fb))


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if args.base:
        cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                           checkpoint=args.base)
    model, meta = load_adapted(cfg, args.checkpoint)
    state = {'backbone.' + k: v
             for k, v in model.backbone.merged_state_dict().items()}
    state.update({k: v for k, v in model.state_dict().items()
                  if not k.startswith('backbone.')})
    plain_cfg = merged_config(cfg)
    plain = build_model(plain_cfg)
    plain.load_state_dict(state, strict=True)
    diff = max_feature_diff(model, plain.eval())
    print(f'merged vs adapted features: max |diff| = {diff:.3g}')
    if not diff <= args.atol:
        raise SystemExit(f'merged model differs from the adapted one by '
                         f'{diff:.3g} > --atol {args.atol:g}; not written.')
    from mmengine.runner import save_checkpoint
    meta = {k: v for k, v in meta.items() if k == 'dataset_meta'}
    meta['lora_merged'] = dict(
        checkpoint=osp.abspath(args.checkpoint),
        base_sha256=model.backbone.base_digest(),
        lora=dict(model.backbone.lora))
    save_checkpoint(dict(state_dict=state, meta=meta), args.out)
    out_config = args.out_config or osp.splitext(args.out)[0] + '.py'
    plain_cfg.dump(out_config)
    print(f'wrote {args.out} and {out_config} (backbone type VECA)')
    return diff


if __name__ == '__main__':
    main()
