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
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from veca_mm.utils.safe_load import load_checkpoint_safely

# The released families (see the paper's table / ``shared/veca_spec.md``).
ARCH_SETTINGS: Dict[str, dict] = {
    'small': dict(embed_dims=384, num_layers=12, num_heads=6,
                  mlp_ratio=2.66667, num_cores=64),
    'splus': dict(embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4.0,
                  num_cores=64),
    'base': dict(embed_dims=768, num_layers=12, num_heads=12,
                 mlp_ratio=2.66667, num_cores=64),
    'large': dict(embed_dims=1024, num_layers=24, num_heads=16,
                  mlp_ratio=2.66667, num_cores=64),
}
ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'mlp_ratio', 'num_cores')


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Turn an arch name or dict into the five numbers that define a VECA."""
    if isinstance(arch, str):
        if arch not in ARCH_SETTINGS:
            raise ValueError(
                f'Unknown VECA arch {arch!r}: use one of '
                f'{sorted(ARCH_SETTINGS)} or a dict with the keys {ARCH_KEYS}.')
        return dict(ARCH_SETTINGS[arch])
    if not isinstance(arch, dict):
        raise TypeError(f'VECA arch must be a str or a dict, got {type(arch)}')
    missing = [k for k in ARCH_KEYS if k not in arch]
    unknown = [k for k in arch if k not in ARCH_KEYS]
    if missing or unknown:
        raise ValueError(
            f'Bad VECA arch dict: missing keys {missing}, unknown keys '
            f'{unknown}; a custom arch needs exactly the keys {ARCH_KEYS}.')
    arch = dict(arch)
    if arch['embed_dims'] % arch['num_heads']:
        raise ValueError(f'embed_dims={arch["embed_dims"]} is not divisible '
                         f'by num_heads={arch["num_heads"]}.')
    if (arch['embed_dims'] // arch['num_heads']) % 4:
        raise ValueError('VECA needs a head dim (embed_dims / num_heads) that '
                         'is a multiple of 4 for its 2-D RoPE; got '
                         f'{arch["embed_dims"] // arch["num_heads"]}.')
    return arch


def arch_from_released_config(config: dict) -> dict:
    """The arch dict a released checkpoint's ``config`` describes."""
    return dict(embed_dims=config['hidden_dim'],
                num_layers=config['num_layers'],
                num_heads=config['num_heads'],
                mlp_ratio=config['mlp_ratio'],
                num_cores=config['num_query_tokens'])


def arch_name(arch: dict) -> Union[str, dict]:
    """The family name of an arch dict when it is a released one."""
    for name, setting in ARCH_SETTINGS.items():
        if all(setting[k] == arch.get(k) for k in ARCH_KEYS):
            return name
    return arch


def farthest_point_init(num_cores: int, pool: int = 1000,
                        extent: float = 0.95,
                        generator: Optional[torch.Generator] = None
                        ) -> torch.Tensor:
    """Spread the initial core positions over the image (raw, pre-tanh)."""
    # Always on the CPU, so the model can also be built on the meta device.
    pts = (torch.rand(pool, 2, generator=generator, device='cpu') * 2 - 1) \
        * extent
    chosen = [int(pts.norm(dim=1).argmin())]
    dist = (pts - pts[chosen[0]]).norm(dim=1)
    for _ in range(num_cores - 1):
        idx = int(dist.argmax())
        chosen.append(idx)
        dist = torch.minimum(dist, (pts - pts[idx]).norm(dim=1))
    return torch.atanh(pts[chosen])


class RoPE2d(nn.Module):
    """Axial 2-D rotary embedding over (x, y) positions in [-1, 1]."""

    def __init__(self, head_dim: int, base: float = 100.,
                 zero_fraction: float = 0.125):
        super().__init__()
        n = head_dim // 4
        periods = base**(2 * torch.arange(n, dtype=torch.float64) /
                         (head_dim // 2))
        n_zero = int(round(zero_fraction * n))
        if n_zero:
            periods[n - n_zero:] = float('inf')
        # 2*pi/period; the zeroed (infinite) periods get frequency 0.
        self.register_buffer('freqs', (2 * math.pi / periods).float(),
                             persistent=False)

    def cis(self, pos: torch.Tensor) -> torch.Tensor:
        """``pos[..., 2]`` (x, y) -> unit complex rotations ``[..., h/2]``.

        Pair ``i`` of a head vector turns by ``[θx..., θy...][i]``; as a
        complex product this is the released ``v·cos + rot(v)·sin``.
        """
        ang = (pos.float()[..., :, None] * self.freqs).flatten(-2)
        return torch.polar(torch.ones_like(ang), ang)


def apply_rope(x: torch.Tensor, cis: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of ``x[..., h]`` by ``cis[..., h/2]``."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * cis).flatten(-2).to(x.dtype)


class DropPath(nn.Module):
    """Stochastic depth per sample."""

    def __init__(self, p: float = 0.):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0. or not self.training:
            return x
        keep = x.new_empty((x.shape[0], ) + (1, ) * (x.ndim - 1)).bernoulli_(
            1 - self.p)
        return x * keep / (1 - self.p)

    def extra_repr(self):
        return f'p={self.p}'


class CoreAttention(nn.Module):
    """Cores attend to every token; patches attend to the cores only."""

    def __init__(self, embed_dims: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(embed_dims, embed_dims)
        self.k_proj = nn.Linear(embed_dims, embed_dims)
        self.v_proj = nn.Linear(embed_dims, embed_dims)
        self.out_proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x, cis, num_cores: int):
        B, T, D = x.shape
        heads = self.num_heads
        # One matmul for q, k and v; the weights stay separate parameters so
        # released checkpoints load as they are.
        w = torch.cat((self.q_proj.weight, self.k_proj.weight,
                       self.v_proj.weight))
        b = torch.cat((self.q_proj.bias, self.k_proj.bias, self.v_proj.bias))
        qkv = F.linear(x, w, b).view(B, T, 3, heads, D // heads)
        # RoPE on q and k at once: cis is B x T x 1 x 1 x h/2
        q, k = apply_rope(qkv[:, :, :2], cis[:, :, None, None]).unbind(2)
        q, k = q.transpose(1, 2), k.transpose(1, 2)  # B, heads, T, h
        v = qkv[:, :, 2].transpose(1, 2)
        kc, vc = k[:, :, :num_cores], v[:, :, :num_cores]
        # cores attend to every token; patches attend to the cores only
        out_cores = F.scaled_dot_product_attention(q[:, :, :num_cores], k, v)
        out_patches = F.scaled_dot_product_attention(q[:, :, num_cores:], kc,
                                                     vc)
        out = torch.cat((out_cores.transpose(1, 2),
                         out_patches.transpose(1, 2)), dim=1)
        return self.out_proj(out.reshape(B, T, D))


class VECABlock(nn.Module):
    """Pre-norm block: core attention, then a SwiGLU FFN."""

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float,
                 drop_path: float = 0.):
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.norm_attn = nn.LayerNorm(embed_dims, eps=1e-5)
        self.attn = CoreAttention(embed_dims, num_heads)
        self.norm_ffn = nn.LayerNorm(embed_dims, eps=1e-5)
        self.fc1 = nn.Linear(embed_dims, 2 * hidden)
        self.fc2 = nn.Linear(hidden, embed_dims)
        self.drop_path = DropPath(drop_path)

    def forward(self, x, cis, num_cores: int):
        x = x + self.drop_path(self.attn(self.norm_attn(x), cis, num_cores))
        a, b = self.fc1(self.norm_ffn(x)).chunk(2, dim=-1)
        if torch.is_grad_enabled():
            h = F.silu(a) * b
        else:  # inference: one F-wide buffer fewer
            h = F.silu(a).mul_(b)
        return x + self.drop_path(self.fc2(h))


class PatchEmbed(nn.Module):

    def __init__(self, in_channels, embed_dims, patch_size, norm: bool):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size)
        if norm:
            self.norm = nn.LayerNorm(embed_dims, eps=1e-5)

    def forward(self, x):
        x = self.proj(x)
        hw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        if hasattr(self, 'norm'):
            x = self.norm(x)
        return x, hw


BudgetSpec = Union[int, Sequence[int]]


@MODELS.register_module()
class VECA(BaseModule):
    """VECA backbone for mmseg and mmdet.

    Returns stride-``patch_size`` maps ``B x D x Hp x Wp`` of the layers in
    ``out_indices`` (plus the first core's output as a CLS token when
    ``output_cls_token``); a pyramid neck makes them multi-scale.

    Core budgets are elastic. ``core_budgets`` is an int, or a tuple with one
    budget per *stage*: the layers split into ``len(core_budgets)`` equal
    consecutive stages. Entering a stage with a smaller budget drops the tail
    cores (tokens and coordinates); a larger budget appends the next cores of
    the bank with their learned initial tokens and coordinates (after the
    carried cores' coordinate update of that layer). ``train_core_budgets``
    (``dict(budgets=..., weights=...)``; budgets may be per-stage tuples)
    draws one budget per training iteration, the same on every process and
    reproducible from ``seed`` and the iteration (read from mmengine's
    message hub), as the released models were trained. Evaluation always
    uses ``core_budgets``.

    Args:
        arch: ``'small' | 'splus' | 'base' | 'large'`` or a dict with exactly
            the keys ``embed_dims, num_layers, num_heads, mlp_ratio,
            num_cores``.
        patch_norm: LayerNorm after the patch projection (released:
            ``patch_embed_use_ln``; False for the released families).
        out_indices: layer indices whose outputs are returned.
        final_norm: apply the released final LayerNorm to every output.
        coord_aug: the released train-mode patch-coordinate augmentation.
        frozen_stages: freeze the patch embedding and core bank (``>= 0``)
            and the first ``frozen_stages`` blocks.
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
                 drop_path_rate: float = 0.,
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch = resolve_arch(arch)
        self.arch_name = arch_name(self.arch)
        D = self.embed_dims = self.arch['embed_dims']
        L = self.num_layers = self.arch['num_layers']
        self.num_heads = self.arch['num_heads']
        M = self.num_cores = self.arch['num_cores']
        if core_chunk < 1 or M % core_chunk:
            raise ValueError(f'num_cores={M} must be a multiple of '
                             f'core_chunk={core_chunk}.')
        self.core_chunk = core_chunk
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.final_norm_enabled = final_norm
        self.output_cls_token = output_cls_token
        self.coord_aug = coord_aug
        self.with_cp = with_cp
        if not -1 <= frozen_stages <= L:
            raise ValueError(f'frozen_stages={frozen_stages} out of range '
                             f'[-1, {L}] for a {L}-layer VECA.')
        self.frozen_stages = frozen_stages

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = []
        for i in out_indices:
            if not -L <= i < L:
                raise ValueError(
                    f'out_indices contains {i}, out of range for a {L}-layer '
                    f'VECA: use layer indices in [{-L}, {L - 1}].')
            self.out_indices.append(i % L)

        self.core_budgets = self._check_budgets(
            M if core_budgets is None else core_budgets, 'core_budgets')
        self.train_core_budgets = self._check_train_budgets(
            train_core_budgets)
        self._draw_counter = 0
        self._core_record = None  # see record_cores()
        # The per-stage budgets of the latest forward (FiniteLossHook names
        # them when a loss goes non-finite).
        self.last_budgets = None

        self.patch_embed = PatchEmbed(in_channels, D, patch_size, patch_norm)
        n_chunks = M // core_chunk
        self.query_token_chunks = nn.ParameterList([
            nn.Parameter(torch.randn(1, core_chunk, D) / math.sqrt(D))
            for _ in range(n_chunks)
        ])
        coords = farthest_point_init(M).view(n_chunks, 1, core_chunk, 2)
        self.qcoord_chunks = nn.ParameterList(
            [nn.Parameter(torch.empty(c.shape).copy_(c)) for c in coords])
        self.pos_linears = nn.ModuleList(
            [nn.Linear(D, 2) for _ in range(L - 1)])
        self.pos_alpha = nn.Parameter(torch.full((L - 1, ), 0.01))
        self.rope = RoPE2d(D // self.num_heads)
        dpr = [drop_path_rate * i / max(L - 1, 1) for i in range(L)]
        self.blocks = nn.ModuleList([
            VECABlock(D, self.num_heads, self.arch['mlp_ratio'], dpr[i])
            for i in range(L)
        ])
        self.final_norm = nn.LayerNorm(D, eps=1e-5)
        self._freeze_stages()

    # ------------------------------------------------------------------ #
    # Core budgets
    def _check_budgets(self, budgets: BudgetSpec, name: str) -> Tuple[int]:
        """Validate at build time; returns one budget per stage."""
        if isinstance(budgets, int):
            budgets = (budgets, )
        budgets = tuple(budgets)
        allowed = list(range(self.core_chunk, self.num_cores + 1,
                             self.core_chunk))
        if not budgets:
            raise ValueError(f'{name} is empty; allowed budgets: {allowed}.')
        for b in budgets:
            if not isinstance(b, int) or b not in allowed:
                raise ValueError(
                    f'{name}: core budget {b!r} is not allowed for a bank of '
                    f'{self.num_cores} cores in chunks of {self.core_chunk}; '
                    f'use one of {allowed}.')
        if self.num_layers % len(budgets):
            divisors = [
                d for d in range(1, self.num_layers + 1)
                if self.num_layers % d == 0
            ]
            raise ValueError(
                f'{name}={budgets} has {len(budgets)} per-stage budgets, but '
                f'the {self.num_layers} layers do not split into '
                f'{len(budgets)} equal stages; give a number of budgets in '
                f'{divisors}.')
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
        budgets = [
            self._check_budgets(b, 'train_core_budgets')
            for b in cfg['budgets']
        ]
        weights = cfg.get('weights') or [1] * len(budgets)
        if len(weights) != len(budgets) or any(w < 0 for w in weights) \
                or sum(weights) <= 0:
            raise ValueError(
                'train_core_budgets: weights must be non-negative, not all '
                f'zero and one per budget ({len(budgets)}), got {weights}.')
        return dict(budgets=budgets, weights=torch.tensor(
            weights, dtype=torch.float64), seed=int(cfg.get('seed', 0)))

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

    # ------------------------------------------------------------------ #
    def _freeze_stages(self):
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
            shift = (torch.rand(2, device=device) * 2 - 1) * 0.08
            scale = torch.exp((torch.rand(1, device=device) * 2 - 1) *
                              math.log(2.))
            pos = (pos + shift) * scale
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

    def forward(self, x: torch.Tensor):
        self._check_input(x)
        B = x.shape[0]
        P = self.patch_size
        pad_h, pad_w = (-x.shape[2]) % P, (-x.shape[3]) % P
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        patches, (hp, wp) = self.patch_embed(x)
        patch_cis = self.rope.cis(self._patch_positions(hp, wp, x.device))
        patch_cis = patch_cis.expand(B, -1, -1)

        budgets = self.active_budgets()
        self.last_budgets = budgets
        per_stage = self.num_layers // len(budgets)
        C = budgets[0]
        cores, u = self._initial_cores(0, C, B)
        x = torch.cat((cores, patches), dim=1)
        outs = []
        for i, block in enumerate(self.blocks):
            if i > 0:
                delta = self.pos_linears[i - 1](x[:, :C])
                u = u + self.pos_alpha[i - 1] * delta
                new_C = budgets[i // per_stage]
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
            cis = torch.cat((self.rope.cis(torch.tanh(u)), patch_cis), dim=1)
            if self.with_cp and self.training and x.requires_grad:
                x = cp.checkpoint(block, x, cis, C, use_reentrant=False)
            else:
                x = block(x, cis, C)
            if i in self.out_indices:
                outs.append(self._make_output(x, C, hp, wp))
        if self.training and max(budgets) < self.num_cores:
            # Touch the cores this budget leaves out, so DDP never sees
            # unused parameters whatever the budget.
            unused = self._unused_core_params(max(budgets))
            if unused is not None:
                outs[0] = self._add_zero(outs[0], unused)
        return tuple(outs)

    def _make_output(self, x, C, hp, wp):
        y = self.final_norm(x) if self.final_norm_enabled else x
        B, _, D = y.shape
        fmap = y[:, C:].transpose(1, 2).reshape(B, D, hp, wp)
        if self.output_cls_token:
            return fmap, y[:, 0]
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
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            self.load_pretrained(self.init_cfg['checkpoint'])
            self._is_init = True
            return
        if self.init_cfg is not None:
            super().init_weights()
            return
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self._is_init = True

    def load_pretrained(self, path: str) -> None:
        """Load a released, whole-model mm or backbone-only checkpoint.

        Always ``weights_only=True`` and strict: a key or shape that
        disagrees with this arch is an error naming the keys and, where the
        file tells, the arch that would fit.
        """
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'VECA pretrained checkpoint {path!r} not found. Convert a '
                'released checkpoint first:\n  python tools/model_converters/'
                f'veca2mm.py RELEASED.pt {path}\nor train from scratch with '
                '--cfg-options model.backbone.init_cfg=None')
        ckpt = load_checkpoint_safely(path, map_location='cpu')
        state, ckpt_arch = extract_veca_state_dict(ckpt, path)
        self.load_veca_state_dict(state, ckpt_arch, source=path)

    def load_veca_state_dict(self, state: Dict[str, torch.Tensor],
                             ckpt_arch: Optional[dict] = None,
                             source: str = 'state dict') -> None:
        """Strict load with an error that says which arch would fit."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = sorted(k for k in set(own) & set(state)
                       if own[k].shape != state[k].shape)
        if missing or unexpected or wrong:
            ckpt_arch = ckpt_arch or infer_arch_from_state_dict(state)
            lines = [f'Checkpoint {source} does not fit VECA(arch='
                     f'{self.arch_name!r}, patch_norm='
                     f'{hasattr(self.patch_embed, "norm")}).']
            if missing:
                lines.append(f'  missing keys ({len(missing)}): '
                             f'{_head(missing)}')
            if unexpected:
                lines.append(f'  unexpected keys ({len(unexpected)}): '
                             f'{_head(unexpected)}')
            if wrong:
                lines.append('  shape mismatches: ' + _head([
                    f'{k} ckpt {tuple(state[k].shape)} vs model '
                    f'{tuple(own[k].shape)}' for k in wrong]))
            if ckpt_arch is not None:
                lines.append(f'  the checkpoint is arch={arch_name(ckpt_arch)!r}'
                             '; build VECA with that arch.')
            if any(k.startswith('patch_embed.norm') for k in unexpected):
                lines.append('  it has a patch-embedding LayerNorm: set '
                             'patch_norm=True.')
            raise ValueError('\n'.join(lines))
        self.load_state_dict(state, strict=True)
        print_log(f'VECA: loaded {len(state)} tensors from {source}',
                  logger='current')


def _head(keys: List[str], n: int = 8) -> str:
    return ', '.join(keys[:n]) + (f', ... (+{len(keys) - n})'
                                  if len(keys) > n else '')


def _strip(key: str, prefixes: Sequence[str]) -> str:
    changed = True
    while changed:
        changed = False
        for p in prefixes:
            if key.startswith(p):
                key, changed = key[len(p):], True
    return key


_VECA_MARKERS = ('patch_embed.proj.weight', 'query_token_chunks.0',
                 'blocks.0.attn.q_proj.weight')


def extract_veca_state_dict(ckpt, path: str = '<checkpoint>'
                            ) -> Tuple[Dict[str, torch.Tensor],
                                       Optional[dict]]:
    """The backbone's state dict and (if recorded) its arch, from any of the
    released / mm whole-model / mm backbone-only / plain state-dict forms."""
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path} is not a checkpoint dict (found '
                         f'{type(ckpt).__name__}).')
    arch = None
    if 'student' in ckpt:  # released research checkpoint
        state = {_strip(k, ('module.', 'student.')): v
                 for k, v in ckpt['student'].items()}
        if isinstance(ckpt.get('config'), dict):
            try:
                arch = arch_from_released_config(ckpt['config'])
            except KeyError:
                arch = None
    elif 'state_dict' in ckpt:  # mmengine checkpoint
        raw = {_strip(k, ('module.', )): v
               for k, v in ckpt['state_dict'].items()}
        if any(k.startswith('backbone.') for k in raw):
            state = {k[len('backbone.'):]: v for k, v in raw.items()
                     if k.startswith('backbone.')}
        else:
            state = raw
        meta = ckpt.get('meta') or {}
        arch = meta.get('veca_arch') if isinstance(meta, dict) else None
    elif ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        state = {_strip(k, ('module.', 'backbone.')): v
                 for k, v in ckpt.items()}
    else:
        raise ValueError(
            f'{path} is neither a released VECA checkpoint (a dict with '
            '"student"), an mm checkpoint (a dict with "state_dict") nor a '
            f'state dict; its top-level keys are {_head(sorted(map(str, ckpt)))}.')
    if not any(m in state for m in _VECA_MARKERS):
        raise ValueError(
            f'{path} does not hold VECA weights (none of {_VECA_MARKERS}); its '
            f'keys look like {_head(sorted(state), 5)}. Is it a checkpoint of '
            'another model type?')
    return state, arch


def infer_arch_from_state_dict(state: Dict[str, torch.Tensor]
                               ) -> Optional[dict]:
    """Best guess of the arch a VECA state dict was made with."""
    try:
        D = state['patch_embed.proj.weight'].shape[0]
        L = 1 + max(int(k.split('.')[1]) for k in state
                    if k.startswith('blocks.'))
        M = sum(state[k].shape[1] for k in state
                if k.startswith('query_token_chunks.'))
        F_ = state['blocks.0.fc2.weight'].shape[1]
    except (KeyError, ValueError, IndexError):
        return None
    for name, s in ARCH_SETTINGS.items():
        if (s['embed_dims'], s['num_layers'], s['num_cores'],
                int(s['embed_dims'] * s['mlp_ratio'])) == (D, L, M, F_):
            return dict(s)
    return dict(embed_dims=D, num_layers=L, num_heads='?',
                mlp_ratio=round(F_ / D, 5), num_cores=M)
