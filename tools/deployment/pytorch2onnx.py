# Copyright (c) veca_mm contributors. Apache-2.0.
"""Export a VECA model to ONNX at a fixed core budget; check it in onnxruntime.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT \
        --core-budgets C [C ...] --shape H W --out FILE [--dynamic] \
        [--check-shape H W]... [--atol 1e-4] [--opset 18]

* segmentors and depth estimators (mmseg) export whole: backbone, neck and
  head in test mode (``encode_decode``), input ``img`` B x 3 x H x W
  (normalised as the config's ``data_preprocessor`` does: RGB, mean/std),
  output ``seg_logits`` B x classes x H x W or ``depth`` B x 1 x H x W;
* detectors (mmdet) export the backbone alone: outputs ``feat0``...; the
  RPN / RoI / NMS stages are mmdeploy's business.

VECA needs no position-embedding interpolation (RoPE positions are
normalised to [-1, 1]), so with ``--dynamic`` one file runs at any height and
width that are multiples of the patch size (the batch stays 1).
``--check-shape H W`` (repeatable; ``--shape`` is always checked) runs the
file in onnxruntime against PyTorch on random input and fails above
``--atol``.
"""
import argparse
import copy
import os
import os.path as osp
import time

import torch
import torch.nn as nn

import veca_mm  # noqa: F401  (registers the VECA backbone and neck)
from veca_mm.utils.cli import (check_checkpoint_fits, check_device,
                               check_output_file, config_scope, int_type,
                               load_config, number_type, user_input_errors)
from veca_mm.utils.core_budgets import (add_core_budgets_argument,
                                        apply_core_budgets, meta_backbone)

TOOL = 'pytorch2onnx.py'
# torch.export's Dim bound on the patch grid (``export``): the most patches
# per side an exported file takes, and so the largest --shape/--check-shape
MAX_PATCHES = 1024


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a VECA segmentor / depth model (whole) or '
        'detector (backbone) to ONNX')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_core_budgets_argument(parser, required=True)
    parser.add_argument('--shape', type=int_type(lo=1), nargs=2,
                        metavar=('H', 'W'),
                        required=True, help='example input height and width')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--dynamic', action='store_true',
                        help='height and width free (multiples of the patch '
                        'size); one file for every image size')
    parser.add_argument('--check-shape', type=int_type(lo=1), nargs=2,
                        action='append',
                        metavar=('H', 'W'), default=[],
                        help='also compare onnxruntime with PyTorch at this '
                        'size (needs --dynamic when it differs from --shape)')
    parser.add_argument('--atol', type=number_type(lo=0), default=1e-4,
                        help='max abs difference allowed in the checks')
    parser.add_argument('--opset', type=int_type(*_opsets()), default=18,
                        help='ONNX opset (those torch.onnx knows)')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def _opsets():
    from torch.onnx import _constants
    return _constants.ONNX_MIN_OPSET, _constants.ONNX_MAX_OPSET


class EncodeDecode(nn.Module):
    """mmseg's test-mode forward on a tensor: logits / depth at the input's
    own size (what ``predict`` computes before cropping to the original)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, img):
        shape = tuple(img.shape[2:])
        metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape)
                 ] * img.shape[0]
        return self.model.encode_decode(img, metas)


class Backbone(nn.Module):
    """The detector's backbone: a tuple of feature maps."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.backbone

    def forward(self, img):
        return tuple(self.backbone(img))


class ShapeFreeAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` whose bins follow the input's size at run time.

    Exported as is, PyTorch's adaptive pooling (mmseg's PPM in UPerHead)
    freezes the bin boundaries of the example size, and the file fails at
    any other size. Here bin ``i`` of ``n`` over ``L`` inputs is the mean of
    ``[floor(i·L/n), ceil((i+1)·L/n))``, PyTorch's rule, written as a small
    averaging matrix computed from ``L``: a MatMul in ONNX.
    """

    def __init__(self, output_size):
        super().__init__()
        size = (output_size, ) * 2 if isinstance(output_size, int) \
            else tuple(output_size)
        self.output_size = size

    @staticmethod
    def _bins(length, n, like):
        i = torch.arange(n, device=like.device)
        start = (i * length) // n
        end = ((i + 1) * length + n - 1) // n
        j = torch.arange(length, device=like.device)
        inside = (j >= start[:, None]) & (j < end[:, None])
        return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)

    def forward(self, x):
        h, w = x.shape[-2:]
        oh, ow = (o if o is not None else d
                  for o, d in zip(self.output_size, (h, w)))
        x = torch.matmul(self._bins(h, oh, x), x)  # ..., oh, w
        return torch.matmul(x, self._bins(w, ow, x).t())


def make_shape_free(module):
    """A copy of ``module`` with every ``nn.AdaptiveAvgPool2d`` replaced."""
    module = copy.deepcopy(module)
    for name, m in list(module.named_modules()):
        if isinstance(m, nn.AdaptiveAvgPool2d):
            parent_name, _, child = name.rpartition('.')
            parent = module.get_submodule(parent_name)
            setattr(parent, child, ShapeFreeAdaptiveAvgPool2d(m.output_size))
    return module


def load_model(config, checkpoint, core_budgets, device='cpu'):
    """(module to export, its output names, the model's patch size);
    ``config``: a path or a loaded ``Config``."""
    # a non-VECA backbone is refused here, before anything is loaded
    cfg = load_config(config) if isinstance(config, (str, os.PathLike)) \
        else config
    cfg = apply_core_budgets(cfg, core_budgets)
    if config_scope(cfg) == 'mmdet':
        from mmdet.apis import init_detector
        model = init_detector(cfg, checkpoint, device=device)
        wrapper = Backbone(model)
        names = [f'feat{i}' for i in range(len(model.backbone.out_indices))]
    else:
        from mmseg.apis import init_model
        model = init_model(cfg, checkpoint, device=device)
        wrapper = EncodeDecode(model)
        names = ['depth' if cfg.model.type == 'DepthEstimator' else
                 'seg_logits']
    return wrapper.eval(), names, model.backbone.patch_size


def check_shape(h, w, patch, option='--shape'):
    if h % patch or w % patch or h < patch or w < patch:
        raise ValueError(
            f'{option} {h} {w}: image size {h}x{w} is not a positive '
            f'multiple of the patch size {patch}: the exported graph has no '
            f'padding step; pad or resize to e.g. '
            f'{-(-h // patch) * patch}x{-(-w // patch) * patch}')
    if max(h, w) > MAX_PATCHES * patch:
        raise ValueError(
            f'{option} {h} {w}: at most {MAX_PATCHES} patches per side '
            f'({MAX_PATCHES * patch} pixels at patch size {patch})')


def check_args(args):
    """Everything on the command line, before the model is built or the
    checkpoint read: the config (a VECA at a valid --core-budgets), the
    sizes against its patch size, the checkpoint file, --device, --out.
    Returns the config."""
    cfg = apply_core_budgets(load_config(args.config), args.core_budgets)
    patch = meta_backbone(cfg).patch_size
    check_shape(*args.shape, patch)
    for shape in args.check_shape:
        if tuple(shape) != tuple(args.shape) and not args.dynamic:
            raise ValueError(f'--check-shape {shape[0]} {shape[1]} differs '
                             'from --shape: export with --dynamic')
        check_shape(*shape, patch, '--check-shape')
    check_checkpoint_fits(cfg, args.checkpoint, 'checkpoint')
    check_device(args.device, '--device')
    check_output_file(args.out, '--out')
    return cfg


def export(wrapper, names, patch, shape, out, dynamic=False, opset=18):
    """Write ``out`` through ``torch.onnx.export`` (torch.export based)."""
    h, w = shape
    check_shape(h, w, patch)
    img = torch.randn(1, 3, h, w)
    dynamic_shapes = None
    if dynamic:
        from torch.export import Dim
        # H = patch * hp: the patch grid is the free variable, so no guard on
        # H % patch (the padding branch) is needed.
        hp, wp = Dim('hp', min=1, max=1024), Dim('wp', min=1, max=1024)
        dynamic_shapes = {'img': {2: patch * hp, 3: patch * wp}}
        wrapper = make_shape_free(wrapper)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with torch.no_grad():
        program = torch.onnx.export(
            wrapper, (img, ), dynamo=True, input_names=['img'],
            output_names=names, dynamic_shapes=dynamic_shapes,
            opset_version=opset, external_data=False)
    program.save(out)
    return out


def compare(wrapper, names, out, shape, seed=0):
    """Max abs difference of onnxruntime and PyTorch at ``shape``."""
    import onnxruntime as ort
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(1, 3, *shape, generator=g)
    with torch.no_grad():
        ref = wrapper(img)
    ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
    sess = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    got = sess.run(names, {'img': img.numpy()})
    errs = []
    for name, r, o in zip(names, ref, got):
        if tuple(o.shape) != tuple(r.shape):
            raise AssertionError(f'{name}: onnxruntime shape {o.shape} vs '
                                 f'PyTorch {tuple(r.shape)}')
        errs.append(float((torch.from_numpy(o) - r).abs().max()))
    return max(errs)


def main(argv=None):
    args = parse_args(argv)
    with user_input_errors(TOOL):
        cfg = check_args(args)
        wrapper, names, patch = load_model(cfg, args.checkpoint, None,
                                           args.device)
    t0 = time.perf_counter()
    export(wrapper, names, patch, args.shape, args.out, args.dynamic,
           args.opset)
    print(f'exported {args.out} ({", ".join(names)}) in '
          f'{time.perf_counter() - t0:.1f} s')
    shapes = [tuple(args.shape)] + [tuple(s) for s in args.check_shape]
    results = {}
    for shape in dict.fromkeys(shapes):
        if shape != tuple(args.shape) and not args.dynamic:
            raise ValueError(f'--check-shape {shape[0]} {shape[1]} differs '
                             'from --shape: export with --dynamic')
        check_shape(*shape, patch)
        err = compare(wrapper, names, args.out, shape)
        results[shape] = err
        print(f'onnxruntime vs PyTorch at {shape[0]}x{shape[1]}: max abs '
              f'error {err:.2e} (allowed {args.atol:.0e})')
        if not err <= args.atol:
            raise SystemExit(f'onnxruntime differs from PyTorch by {err:.2e} '
                             f'> {args.atol:.0e} at {shape}')
    return results


if __name__ == '__main__':
    main()
