# Copyright (c) veca_mm contributors. Apache-2.0.
"""VECA: Visual Elastic Core Attention (arXiv:2605.12491) as an mm backbone.

Patches never attend to each other. Every layer a small ordered bank of
learned *core* tokens attends to all tokens, and the patches attend only to the
cores, so attention costs ``2NC + C^2`` instead of ``N^2``. The model was
trained with nested dropout over the cores, so one set of weights runs at any
core budget ``C`` (a multiple of the chunk size), chosen at test time.
"""
import contextlib
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.logging import MessageHub
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from timm.layers import DropPath

from veca_mm.models.layers import (Linear, PatchEmbed, compute_dtype,
                                   farthest_point_init)
from veca_mm.utils.checks import check_int
from veca_mm.utils.stages import layer_budgets
from . import released_format
# ARCH_SETTINGS: also imported from here by tools and tests
from .arch import ARCH_SETTINGS, arch_name, resolve_arch  # noqa: F401
from .arch import (SCALAR_CHECKS, check_init_cfg, check_layer_indices,
                   check_veca_args, is_pretrained_cfg)


class RoPE2d(nn.Module):
    """Axial 2-D rotary embedding over (x, y) positions in [-1, 1].

    Args:
        head_dim (int): Head width ``h``; ``h/4`` frequencies per axis.
        base (float): Period base (periods ``base**(4i/h)``). Default: 100.
        zero_fraction (float): Share of the ``h/4`` periods set to infinity
            (frequency 0), rounded as the released code. Default: 0.125.
        zero_from (str): ``'low'`` zeroes the largest periods, ``'high'``
            the smallest. Default: ``'low'``.
    """

    def __init__(self, head_dim: int, base: float = 100.,
                 zero_fraction: float = 0.125, zero_from: str = 'low'):
        super().__init__()
        n = head_dim // 4
        periods = base**(2 * torch.arange(n, dtype=torch.float64) /
                         (head_dim // 2))
        if not 0. <= zero_fraction <= 1.:
            raise ValueError(f'rope_zero_fraction={zero_fraction} must be in '
                             '[0, 1] (released default 0.125).')
        if zero_from not in ('low', 'high'):
            raise ValueError(f"rope_zero_from={zero_from!r}: use 'low' (zero "
                             "the largest periods, released default) or "
                             "'high' (the smallest).")
        # Python's round, as the released code: round(p * h/4) periods.
        n_zero = int(round(zero_fraction * n))
        if n_zero and zero_from == 'low':  # the lowest frequencies
            periods[n - n_zero:] = float('inf')
        elif n_zero:  # 'high': the highest frequencies
            periods[:n_zero] = float('inf')
        self.num_zeroed = n_zero
        # 2*pi/period; the zeroed (infinite) periods get frequency 0.
        self.register_buffer('freqs', (2 * math.pi / periods).float(),
                             persistent=False)

    def cis(self, pos: torch.Tensor) -> torch.Tensor:
        """``pos[..., 2]`` (x, y) -> the rotation table ``[..., 2h]``.

        Pair ``i`` of a head vector turns by ``θ_i``, ``θ = [θx..., θy...]``
        (``h/2`` angles). The table is ``[cos(a), sin(a)·(-1, +1, ...)]``
        with ``a = (θ0, θ0, θ1, θ1, ...)``: the released ``cos(angles)`` and
        ``sin(angles)``, with the sign of ``rot(v)`` folded in. Real numbers:
        ONNX has no complex type (``aten::polar`` does not export), and a
        bf16 forward need not go through fp32 complex tensors.
        """
        ang = (pos.float()[..., :, None] * self.freqs).flatten(-2)
        sin = ang.sin()
        return torch.cat((ang.cos().repeat_interleave(2, dim=-1),
                          torch.stack((-sin, sin), dim=-1).flatten(-2)),
                         dim=-1)


def apply_rope(x: torch.Tensor, cis: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of ``x[..., h]`` by the angles of ``cis``.

    The released ``v·cos + rot(v)·sin``, ``rot(v) = (-x2, x1, ...)``, i.e.
    ``(x1, x2) -> (x1·cos - x2·sin, x2·cos + x1·sin)``. It runs in ``x``'s
    dtype (only the small per-token table is cast): fp32 matches the complex
    product; bf16 makes no fp32 copy of q and k (the rounding of the two
    bf16 products is far below the bf16 attention's own error, see
    tests/test_export.py).
    """
    cos, sin = cis.to(x.dtype).chunk(2, dim=-1)
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (x2, x1, ...)
    return torch.addcmul(x * cos, swapped, sin)


class CoreAttention(nn.Module):
    """Cores attend to every token; patches attend to the cores only.

    The projections are called as modules (``self.q_proj(x)`` ...), so that
    forward hooks and module replacement (LoRA / adapters, quantisation or
    pruning wrappers) act on them. q, k and v stay separate ``nn.Linear``
    layers, as in the released checkpoints.

    Args:
        embed_dims (int): Token width.
        num_heads (int): Number of attention heads.
    """

    def __init__(self, embed_dims: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = Linear(embed_dims, embed_dims)
        self.k_proj = Linear(embed_dims, embed_dims)
        self.v_proj = Linear(embed_dims, embed_dims)
        self.out_proj = Linear(embed_dims, embed_dims)
        # A list while VECA.record_attention() is active: each forward then
        # appends the cores' softmax weights (B x heads x C x T).
        self.attn_record = None

    def forward(self, x, cis, num_cores: int):
        B, T, D = x.shape
        shape = (B, T, self.num_heads, D // self.num_heads)
        # RoPE on q and k; cis is B x T x 2h (cos, sin), one per token
        cis = cis[:, :, None]
        q = apply_rope(self.q_proj(x).view(shape), cis).transpose(1, 2)
        k = apply_rope(self.k_proj(x).view(shape), cis).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)  # B, heads, T, h
        kc, vc = k[:, :, :num_cores], v[:, :, :num_cores]
        # cores attend to every token; patches attend to the cores only
        if self.attn_record is None:
            out_cores = F.scaled_dot_product_attention(
                q[:, :, :num_cores], k, v)
        else:  # the same product, written out so its weights can be kept
            weights = torch.softmax(
                q[:, :, :num_cores] @ k.transpose(-2, -1) *
                q.shape[-1]**-0.5, dim=-1)
            self.attn_record.append(weights.detach())
            out_cores = weights @ v
        out_patches = F.scaled_dot_product_attention(q[:, :, num_cores:], kc,
                                                     vc)
        out = torch.cat((out_cores.transpose(1, 2),
                         out_patches.transpose(1, 2)), dim=1)
        return self.out_proj(out.reshape(B, T, D))


class VECABlock(nn.Module):
    """Pre-norm block: core attention, then a SwiGLU FFN.

    ``fc1`` gives the SwiGLU's gate and value halves, ``fc2`` projects back;
    both are called as modules (hooks and replacement act on them).

    Args:
        embed_dims (int): Token width.
        num_heads (int): Number of attention heads.
        mlp_ratio (float): SwiGLU hidden width / ``embed_dims``.
        drop_path (float): Stochastic depth rate of this block. Default: 0.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float,
                 drop_path: float = 0.):
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.norm_attn = nn.LayerNorm(embed_dims, eps=1e-5)
        self.attn = CoreAttention(embed_dims, num_heads)
        self.norm_ffn = nn.LayerNorm(embed_dims, eps=1e-5)
        self.fc1 = Linear(embed_dims, 2 * hidden)
        self.fc2 = Linear(hidden, embed_dims)
        self.drop_path = DropPath(drop_path)

    def forward(self, x, cis, num_cores: int):
        x = x + self.drop_path(self.attn(self.norm_attn(x), cis, num_cores))
        a, b = self.fc1(self.norm_ffn(x)).chunk(2, dim=-1)
        if torch.is_grad_enabled():
            h = F.silu(a) * b
        else:  # inference: one F-wide buffer fewer
            h = F.silu(a).mul_(b)
        return x + self.drop_path(self.fc2(h))


def _check_frozen_args(**given) -> None:
    """``frozen=True`` never trains: refuse the arguments that only act in
    training rather than ignore them."""
    defaults = dict(train_core_budgets=None, drop_path_rate=0.,
                    with_cp=False, frozen_stages=-1)
    bad = {k: v for k, v in given.items() if v != defaults[k]}
    if bad:
        raise ValueError(
            f'frozen=True keeps VECA in eval mode without gradients, so '
            f'{bad} would never act: set ' + ', '.join(
                f'{k}={defaults[k]!r}' for k in bad) +
            ' (the probe runs at core_budgets).')


BudgetSpec = Union[int, Sequence[int]]


@MODELS.register_module()
class VECA(BaseModule):
    """VECA backbone for mmseg and mmdet.

    Returns stride-``patch_size`` maps ``B x D x Hp x Wp`` of the layers in
    ``out_indices`` (plus the first core's output as a CLS token when
    ``output_cls_token``); a pyramid neck makes them multi-scale. Inputs
    whose sides are not multiples of ``patch_size`` are zero-padded at the
    bottom/right; in eval mode that warns once, because a segmentor would
    resize the padded grid onto the unpadded image (pad in the data
    preprocessor instead, which mmseg crops back).

    Core budgets are elastic. ``core_budgets`` is an int, or a tuple with one
    budget per *stage*: the layers split into ``len(core_budgets)`` equal
    consecutive stages. Entering a stage with a smaller budget drops the tail
    cores (tokens and coordinates); a larger budget appends the next cores of
    the bank with their learned initial tokens and coordinates (after the
    carried cores' coordinate update of that layer). Evaluation always uses
    ``core_budgets``; ``train_core_budgets`` draws one budget per training
    iteration, as the released models were trained.

    Args:
        arch (str | dict): ``'small'``, ``'splus'``, ``'base'`` or
            ``'large'``, or a dict with exactly the keys ``embed_dims,
            num_layers, num_heads, mlp_ratio, num_cores`` and optionally
            ``distill_dims`` (the width of the distillation projection
            ``output_proj``, released ``distill_output_dim``; small, splus
            and large have 768). Default: ``'base'``.
        patch_size (int): Side of the square patches (stride of the output
            maps; released ``patch_size``). Default: 16.
        in_channels (int): Input image channels. Default: 3.
        patch_norm (bool): LayerNorm after the patch projection (released
            ``patch_embed_use_ln``; False for the released families).
            Default: False.
        core_chunk (int): Cores per chunk of the bank: budgets are multiples
            of it and ``num_cores`` must be one (released
            ``nested_chunk_size``). Default: 8.
        out_indices (int | Sequence[int]): Layers whose outputs are
            returned (negative counts from the end). Default: -1.
        core_budgets (int | Sequence[int], optional): Evaluation budget, or
            one budget per stage. None means all ``num_cores``.
            Default: None.
        train_core_budgets (dict, optional): ``dict(budgets=..., weights=...,
            seed=0)``: one budget (int or per-stage tuple) drawn per training
            iteration, the same on every process and reproducible from
            ``seed`` and the iteration (mmengine's message hub). None trains
            at ``core_budgets``. Default: None.
        final_norm (bool): Apply the released final LayerNorm to every
            output. Default: True.
        output_cls_token (bool): Return ``(map, cls)`` pairs. Default: False.
        coord_aug (bool): The released train-mode patch-coordinate
            augmentation; False turns all of it off. Default: True.
        coord_shift (float, optional): Shift by ``U(-s, s)`` per axis
            (released ``rope_shift_coords``; None: off). Default: 0.08.
        coord_jitter (float, optional): Scale each axis by
            ``exp(U(-ln j, ln j))`` (released ``rope_jitter_coords``; None:
            off). Default: None.
        coord_rescale (float, optional): Scale both axes by
            ``exp(U(-ln r, ln r))`` (released ``rope_rescale_coords``; None:
            off). Default: 2.0.
        rope_zero_fraction (float): ``round(p * h/4)`` RoPE periods set to
            infinity (released ``rope_p_zero_freqs``). Default: 0.125.
        rope_zero_from (str): Zero the largest (``'low'``) or the smallest
            (``'high'``) periods (released ``rope_zero_freqs_from``).
            Default: ``'low'``.
        distill_proj (bool): Apply the distillation projection
            ``output_proj`` (when the arch has one) to the last layer's map
            and the CLS token, as the released forward does: features in the
            teacher's space (linear probes, retrieval). Off, the last map is
            the final-normed ``embed_dims``-wide stream a neck fine-tunes
            from, and ``output_proj`` stays loaded but frozen and unused.
            Default: False.
        drop_path_rate (float): Stochastic depth rate of the last block,
            rising linearly from 0 at the first. Default: 0.
        with_cp (bool): Activation checkpointing of each block in training
            (less memory, one more forward). Default: False.
        frozen_stages (int): Freeze the patch embedding and core bank
            (``>= 0``) and the first ``frozen_stages`` blocks; -1 freezes
            nothing. Default: -1.
        frozen (bool): Freeze the whole backbone, for frozen-backbone
            (linear) probing: no parameter needs a gradient, the backbone
            stays in eval mode even when the runner calls ``model.train()``
            (no coordinate augmentation, budget draws or drop path) and runs
            under ``torch.no_grad()``. Arguments that only act in training
            (``train_core_budgets``, ``drop_path_rate``, ``with_cp``,
            ``frozen_stages``) are refused with it. Default: False.
        init_cfg (dict | list[dict], optional): mmengine initialisation;
            a ``Pretrained`` entry (``checkpoint``, ``prefix``,
            ``map_location``) loads a released or mm checkpoint *strictly*.
            Default: None.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 patch_size: int = 16,
                 in_channels: int = 3,
                 patch_norm: bool = False,
                 core_chunk: int = 8,
                 out_indices: Union[int, Sequence[int]] = -1,
                 core_budgets: Optional[BudgetSpec] = None,
                 train_core_budgets: Optional[dict] = None,
                 final_norm: bool = True,
                 output_cls_token: bool = False,
                 coord_aug: bool = True,
                 coord_shift: Optional[float] = 0.08,
                 coord_jitter: Optional[float] = None,
                 coord_rescale: Optional[float] = 2.0,
                 rope_zero_fraction: float = 0.125,
                 rope_zero_from: str = 'low',
                 distill_proj: bool = False,
                 drop_path_rate: float = 0.,
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 frozen: bool = False,
                 init_cfg: Optional[dict] = None):
        check_veca_args(**{k: v for k, v in locals().items()
                           if k in SCALAR_CHECKS})
        check_init_cfg(init_cfg)
        super().__init__(init_cfg=init_cfg)
        self.arch = resolve_arch(arch)
        self.arch_name = arch_name(self.arch)
        self.embed_dims = self.arch['embed_dims']
        L = self.num_layers = self.arch['num_layers']
        self.num_heads = self.arch['num_heads']
        M = self.num_cores = self.arch['num_cores']
        if M % core_chunk:
            raise ValueError(f'num_cores={M} must be a multiple of '
                             f'core_chunk={core_chunk}.')
        self.core_chunk = core_chunk
        self.patch_size, self.in_channels = patch_size, in_channels
        self.final_norm_enabled = final_norm
        self.output_cls_token = output_cls_token
        self.coord_aug = coord_aug
        self.coord_shift, self.coord_jitter, self.coord_rescale = \
            coord_shift, coord_jitter, coord_rescale
        self.distill_dims = self.arch.get('distill_dims')
        self.distill_proj = bool(distill_proj)
        self.with_cp = with_cp
        self.frozen_stages = check_int('frozen_stages', frozen_stages, -1, L,
                                       owner=f'VECA ({L} layers)')
        if frozen:
            _check_frozen_args(train_core_budgets=train_core_budgets,
                               drop_path_rate=drop_path_rate,
                               with_cp=with_cp, frozen_stages=frozen_stages)
        self.frozen = bool(frozen)
        self.out_indices = self._check_out_indices(out_indices, final_norm)
        self.core_budgets = self._check_budgets(
            M if core_budgets is None else core_budgets, 'core_budgets')
        self.train_core_budgets = self._check_train_budgets(
            train_core_budgets)
        self._draw_counter = 0
        self._core_record = None  # see record_cores()
        self._warned_padding = False  # see _pad_to_patches()
        # The per-stage budgets of the latest forward (FiniteLossHook names
        # them when a loss goes non-finite).
        self.last_budgets = None
        self._build_layers(patch_norm, drop_path_rate, rope_zero_fraction,
                           rope_zero_from)
        self.rope_zero_fraction = float(rope_zero_fraction)
        self.rope_zero_from = rope_zero_from
        self._freeze_stages()

    def _check_out_indices(self, out_indices, final_norm: bool) -> List[int]:
        """Layer indices in ``[0, L)``; ``distill_proj`` needs the last."""
        L = self.num_layers
        if self.distill_proj and not final_norm:
            raise ValueError(
                'distill_proj=True projects the final-normed tokens, as the '
                'released forward does: it needs final_norm=True.')
        checked = check_layer_indices(out_indices, L)
        if self.distill_proj and L - 1 not in checked:
            raise ValueError(
                'distill_proj=True projects the last layer\'s output (the '
                f'released distillation head), but out_indices={checked} '
                f'lacks layer {L - 1}: add -1.')
        return checked

    def _build_layers(self, patch_norm: bool, drop_path_rate: float,
                      rope_zero_fraction: float, rope_zero_from: str) -> None:
        """The patch embedding, core bank, blocks and output layers."""
        D, L, M = self.embed_dims, self.num_layers, self.num_cores
        self.patch_embed = PatchEmbed(self.in_channels, D, self.patch_size,
                                      patch_norm)
        chunk, n_chunks = self.core_chunk, M // self.core_chunk
        self.query_token_chunks = nn.ParameterList([
            nn.Parameter(torch.randn(1, chunk, D) / math.sqrt(D))
            for _ in range(n_chunks)
        ])
        coords = farthest_point_init(M).view(n_chunks, 1, chunk, 2)
        self.qcoord_chunks = nn.ParameterList(
            [nn.Parameter(torch.empty(c.shape).copy_(c)) for c in coords])
        self.pos_linears = nn.ModuleList(
            [nn.Linear(D, 2) for _ in range(L - 1)])
        self.pos_alpha = nn.Parameter(torch.full((L - 1, ), 0.01))
        self.rope = RoPE2d(D // self.num_heads,
                           zero_fraction=rope_zero_fraction,
                           zero_from=rope_zero_from)
        dpr = [drop_path_rate * i / max(L - 1, 1) for i in range(L)]
        self.blocks = nn.ModuleList([
            VECABlock(D, self.num_heads, self.arch['mlp_ratio'], dpr[i])
            for i in range(L)
        ])
        self.final_norm = nn.LayerNorm(D, eps=1e-5)
        if self.distill_dims is not None:
            self.output_proj = nn.Linear(D, self.distill_dims)
            # Unused without distill_proj: frozen, so DDP and the optimizer
            # never wait for its gradients; it still loads and saves.
            self.output_proj.requires_grad_(self.distill_proj)

    # ------------------------------------------------------------------ #
    # Core budgets
    def _check_budgets(self, budgets: BudgetSpec, name: str) -> Tuple[int]:
        """Validate at build time; returns one budget per stage."""
        if isinstance(budgets, int) and not isinstance(budgets, bool):
            budgets = (budgets, )
        if not isinstance(budgets, (list, tuple)):
            raise TypeError(f'{name}={budgets!r}: use an int or one int per '
                            'stage (a list/tuple).')
        budgets = tuple(budgets)
        allowed = list(range(self.core_chunk, self.num_cores + 1,
                             self.core_chunk))
        if not budgets:
            raise ValueError(f'{name} is empty; allowed budgets: {allowed}.')
        for b in budgets:
            if isinstance(b, bool) or not isinstance(b, int) or \
                    b not in allowed:
                raise ValueError(
                    f'{name}: core budget {b!r} is not allowed for a bank of '
                    f'{self.num_cores} cores in chunks of {self.core_chunk}; '
                    f'use one of {allowed}.')
        layer_budgets(budgets, self.num_layers, name)  # equal stages
        return budgets

    def _check_train_budgets(self, cfg: Optional[dict]) -> Optional[dict]:
        if cfg is None:
            return None
        if not isinstance(cfg, dict) or 'budgets' not in cfg or set(cfg) - {
                'budgets', 'weights', 'seed'
        }:
            raise ValueError(
                'train_core_budgets must be None or dict(budgets=..., '
                'weights=..., seed=0) (weights and seed optional), got '
                f'{cfg!r}.')
        if not isinstance(cfg['budgets'], (list, tuple)) or \
                not cfg['budgets']:
            raise ValueError('train_core_budgets: budgets must be a non-empty '
                             'list of budgets (each an int or one per '
                             f'stage), got {cfg["budgets"]!r}.')
        budgets = [self._check_budgets(b, 'train_core_budgets')
                   for b in cfg['budgets']]
        weights = cfg.get('weights')
        if weights is None:  # uniform only when not given at all
            weights = [1] * len(budgets)
        weights = list(weights) if isinstance(weights, tuple) else weights
        if not isinstance(weights, list) or len(weights) != len(budgets) \
                or not all(isinstance(w, (int, float)) and not isinstance(
                    w, bool) and 0 <= w < math.inf for w in weights) \
                or sum(weights) <= 0:
            raise ValueError(
                'train_core_budgets: weights must be non-negative, not all '
                f'zero and one per budget ({len(budgets)}), got {weights}.')
        seed = check_int('seed', cfg.get('seed', 0),
                         owner='VECA train_core_budgets')
        return dict(budgets=budgets, weights=torch.tensor(
            weights, dtype=torch.float64), seed=seed)

    def set_core_budgets(self, core_budgets: BudgetSpec) -> None:
        """Change the evaluation budget(s) of a built model."""
        self.core_budgets = self._check_budgets(core_budgets, 'core_budgets')

    def draw_train_budgets(self, iteration: int) -> Tuple[int]:
        """The per-stage budgets of training iteration ``iteration``.

        A pure function of (seed, iteration): every process and a resumed
        run draw the same sequence.
        """
        cfg = self.train_core_budgets
        g = torch.Generator().manual_seed(cfg['seed'] * 1_000_003 +
                                          int(iteration))
        idx = int(torch.multinomial(cfg['weights'], 1, generator=g))
        return cfg['budgets'][idx]

    def _current_iteration(self) -> int:
        hub = MessageHub.get_current_instance()
        it = hub.get_info('iter')
        if it is None:  # outside an mm runner: count our own forwards
            it = self._draw_counter
            self._draw_counter += 1
        return int(it)

    def active_budgets(self) -> Tuple[int]:
        if self.training and self.train_core_budgets is not None:
            return self.draw_train_budgets(self._current_iteration())
        return self.core_budgets

    @contextlib.contextmanager
    def record_cores(self):
        """Collect each layer's core positions ``B x C x 2`` (x, y in [-1, 1])
        during the forwards inside the ``with`` block (for visualization)."""
        self._core_record = []
        try:
            yield self._core_record
        finally:
            self._core_record = None

    @contextlib.contextmanager
    def record_attention(self):
        """Collect each layer's core attention weights ``B x heads x C x T``
        (softmax over all ``T`` keys, cores first) during the forwards inside
        the ``with`` block. The forward then computes the cores' attention
        from exactly these weights (for visualization)."""
        record = []
        for block in self.blocks:
            block.attn.attn_record = record
        try:
            yield record
        finally:
            for block in self.blocks:
                block.attn.attn_record = None

    @contextlib.contextmanager
    def cast_weights(self, dtype: torch.dtype = torch.bfloat16):
        """Cast the blocks' linear weights to ``dtype`` once for the
        gradient-free ``dtype`` forwards (autocast, or a ``dtype`` model)
        inside the ``with`` block, instead of once per forward (~5 % of a
        VECA-B forward at 512 px on a CPU). The weights must not change
        inside the block; outside it nothing is cached. Layers replaced by
        wrappers keep working (a wrapped ``Linear`` still uses its cast)."""
        layers = [m for m in self.blocks.modules() if isinstance(m, Linear)]
        try:
            for m in layers:
                m.set_cast(dtype)
            yield self
        finally:
            for m in layers:
                m.set_cast(None)

    # ------------------------------------------------------------------ #
    def _freeze_stages(self):
        if self.frozen:
            # Whole backbone (projection included): eval mode for every
            # submodule, bypassing our train() so this cannot recurse.
            nn.Module.train(self, False)
            for p in self.parameters():
                p.requires_grad = False
            return
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed, self.query_token_chunks,
                  self.qcoord_chunks]
        frozen += list(self.blocks[:self.frozen_stages])
        frozen += list(self.pos_linears[:max(self.frozen_stages - 1, 0)])
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False
        if self.frozen_stages >= 1:
            self.pos_alpha.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    def _patch_positions(self, hp: int, wp: int, device) -> torch.Tensor:
        ys = (torch.arange(hp, device=device, dtype=torch.float32) + 0.5) / hp
        xs = (torch.arange(wp, device=device, dtype=torch.float32) + 0.5) / wp
        y, x = torch.meshgrid(ys * 2 - 1, xs * 2 - 1, indexing='ij')
        pos = torch.stack((x, y), dim=-1).view(-1, 2)
        if self.training and self.coord_aug:
            # One draw per forward for the whole batch, in the released
            # order (shift, per-axis jitter, rescale), so a seeded run draws
            # the same numbers as the released code.
            if self.coord_shift is not None:
                s = float(self.coord_shift)
                pos = pos + pos.new_empty(2).uniform_(-s, s)
            if self.coord_jitter is not None:
                j = math.log(float(self.coord_jitter))
                pos = pos * pos.new_empty(2).uniform_(-j, j).exp()
            if self.coord_rescale is not None:
                r = math.log(float(self.coord_rescale))
                pos = pos * pos.new_empty(1).uniform_(-r, r).exp()
        return pos

    def _initial_cores(self, start: int, stop: int, batch: int):
        c = self.core_chunk
        chunks = range(start // c, stop // c)
        tokens = torch.cat([self.query_token_chunks[i] for i in chunks], 1)
        coords = torch.cat([self.qcoord_chunks[i] for i in chunks], 1)
        return tokens.expand(batch, -1, -1), coords.expand(batch, -1, -1)

    def _check_input(self, x: torch.Tensor):
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'VECA expects images B x {self.in_channels} x H x W, got '
                f'{tuple(x.shape)}; set in_channels={x.shape[1] if x.dim() == 4 else "?"} '
                'or fix the data pipeline.')
        h, w = x.shape[-2:]
        if h < self.patch_size or w < self.patch_size:
            raise ValueError(
                f'Image {h}x{w} is smaller than one {self.patch_size}x'
                f'{self.patch_size} patch; resize or pad inputs to at least '
                f'{self.patch_size}x{self.patch_size}.')

    def _pad_to_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the bottom/right to a multiple of ``patch_size``.

        The output grid is then the padded image's, which a segmentor would
        resize onto the unpadded image (misaligned predictions): in eval
        mode this warns once per model, naming the data-preprocessor fix.
        Training crops and detectors (which pad themselves) are unaffected.
        """
        P = self.patch_size
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % P, (-w) % P
        if not (pad_h or pad_w):
            return x
        if not self.training and not self._warned_padding:
            self._warned_padding = True
            warnings.warn(
                f'VECA got a {h}x{w} input, not a multiple of its patch size '
                f'{P}: it pads the bottom/right and returns the padded grid, '
                'which a segmentor resizes onto the unpadded image '
                f'(predictions shifted by up to {P - 1} px). Pad in the data '
                'preprocessor, which crops the padding back: set '
                f'model.data_preprocessor.test_cfg=dict(size_divisor={P}) '
                f'(mmseg) or pad_size_divisor=a multiple of {P} (mmdet).',
                UserWarning, stacklevel=2)
        return F.pad(x, (0, pad_w, 0, pad_h))

    def forward(self, x: torch.Tensor):
        if self.frozen and torch.is_grad_enabled():
            # frozen: no autograd graph through the backbone at all
            with torch.no_grad():
                return self.forward(x)
        self._check_input(x)
        B = x.shape[0]
        x = self._pad_to_patches(x)
        patches, (hp, wp) = self.patch_embed(x)
        # RoPE tables in the dtype q and k have: cast once per forward for
        # the patches, per layer only for the cores (apply_rope's cast is
        # then a no-op; fp32 unchanged)
        cdt = compute_dtype(x.device.type, patches.dtype)
        patch_cis = self.rope.cis(self._patch_positions(hp, wp, x.device))
        patch_cis = patch_cis.to(cdt).expand(B, -1, -1)

        budgets = self.active_budgets()
        self.last_budgets = budgets
        per_layer = layer_budgets(budgets, self.num_layers)
        C = per_layer[0]
        cores, u = self._initial_cores(0, C, B)
        x = torch.cat((cores, patches), dim=1)
        outs = []
        for i, block in enumerate(self.blocks):
            if i > 0:
                delta = self.pos_linears[i - 1](x[:, :C])
                u = u + self.pos_alpha[i - 1] * delta
                new_C = per_layer[i]
                if new_C < C:
                    x = torch.cat((x[:, :new_C], x[:, C:]), dim=1)
                    u = u[:, :new_C]
                elif new_C > C:
                    extra, extra_u = self._initial_cores(C, new_C, B)
                    x = torch.cat((x[:, :C], extra.to(x.dtype), x[:, C:]), 1)
                    u = torch.cat((u, extra_u.to(u.dtype)), dim=1)
                C = new_C
            if self._core_record is not None:
                self._core_record.append(torch.tanh(u).detach())
            cis = torch.cat((self.rope.cis(torch.tanh(u)).to(cdt), patch_cis),
                            dim=1)
            if self.with_cp and self.training and x.requires_grad:
                x = cp.checkpoint(block, x, cis, C, use_reentrant=False)
            else:
                x = block(x, cis, C)
            if i in self.out_indices:
                outs.append(self._make_output(
                    x, C, hp, wp, last=i == self.num_layers - 1))
        if self.training and max(budgets) < self.num_cores:
            # Touch the cores this budget leaves out, so DDP never sees
            # unused parameters whatever the budget.
            unused = self._unused_core_params(max(budgets))
            if unused is not None:
                outs[0] = self._add_zero(outs[0], unused)
        return tuple(outs)

    def _make_output(self, x, C, hp, wp, last: bool = False):
        y = self.final_norm(x) if self.final_norm_enabled else x
        patches, cls = y[:, C:], y[:, 0]
        if last and self.distill_proj and self.distill_dims is not None:
            # the released head: project the final-normed patches and CLS
            patches, cls = self.output_proj(patches), self.output_proj(cls)
        B, _, D = patches.shape
        fmap = patches.transpose(1, 2).reshape(B, D, hp, wp)
        if self.output_cls_token:
            return fmap, cls
        return fmap

    def _unused_core_params(self, used: int):
        c = self.core_chunk
        params = [
            p for i in range(used // c, len(self.query_token_chunks))
            for p in (self.query_token_chunks[i], self.qcoord_chunks[i])
            if p.requires_grad
        ]
        if not params:
            return None
        return sum(p.sum() for p in params) * 0.

    @staticmethod
    def _add_zero(out, zero):
        if isinstance(out, tuple):
            return (out[0] + zero, ) + out[1:]
        return out + zero

    # ------------------------------------------------------------------ #
    # Initialisation and checkpoints
    def init_weights(self):
        """Default init, mmengine's ``init_cfg`` entries, then a *strict*
        ``Pretrained`` load (dict or list form; mmengine's own ``Pretrained``
        loads non-strictly and would half-load a backbone silently)."""
        cfgs = check_init_cfg(self.init_cfg)
        pretrained = [c for c in cfgs if is_pretrained_cfg(c)]
        others = [c for c in cfgs if not is_pretrained_cfg(c)]
        if others:
            saved = self.init_cfg
            self.init_cfg = others if isinstance(saved, list) else others[0]
            try:
                super().init_weights()
            finally:
                self.init_cfg = saved
        elif not pretrained:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=.02)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
        if pretrained:
            kw = {k: v for k, v in pretrained[0].items() if k != 'type'}
            self.load_pretrained(**kw)
        self._is_init = True

    def load_pretrained(self, checkpoint: str, prefix: Optional[str] = None,
                        map_location='cpu') -> None:
        """Load a released, whole-model mm or backbone-only checkpoint.

        Always ``weights_only=True`` and strict: a key or shape that
        disagrees with this arch is an error naming the keys and, where the
        file tells, the arch that would fit; a recorded description (released
        ``config`` or the converter's ``meta``) that asks for another forward
        is an error naming the field and the argument to set. ``prefix``
        (mmengine's ``Pretrained`` semantics) loads the keys under it.
        """
        released_format.load_pretrained(self, checkpoint, prefix,
                                        map_location)

    def checkpoint_args(self) -> dict:
        """The arguments that fix what this VECA computes from its weights
        (what a released ``config`` / the converter's ``meta`` records)."""
        return dict(arch=dict(self.arch), patch_size=self.patch_size,
                    in_channels=self.in_channels, core_chunk=self.core_chunk,
                    patch_norm=hasattr(self.patch_embed, 'norm'),
                    rope_zero_fraction=self.rope_zero_fraction,
                    rope_zero_from=self.rope_zero_from,
                    coord_shift=self.coord_shift,
                    coord_jitter=self.coord_jitter,
                    coord_rescale=self.coord_rescale)

    def load_veca_state_dict(self, state: Dict[str, torch.Tensor],
                             ckpt_arch: Optional[dict] = None,
                             source: str = 'state dict',
                             description: Optional[dict] = None) -> None:
        """Strict load with an error that says which arch would fit (see
        :func:`~.released_format.load_veca_state_dict`)."""
        released_format.load_veca_state_dict(self, state, ckpt_arch, source,
                                             description)

