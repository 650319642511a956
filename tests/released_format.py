"""Checkpoints in the released format, written by our own code.

The released training code (alansong1322/VECA at f9394e9) saves
``dict(student=model.state_dict(), config=<every dataclass field>, ...)``.
``write_released`` writes that layout for a tiny model with seeded weights
and any config field moved off its default, so tests can check that each
forward-relevant field is honoured (``tests/data/released_fields_ref.pt``
holds the released code's outputs for the same files) or refused.
"""
import math

import torch

# Released defaults of the fields that shape the model, for a tiny arch:
# head dim 32 (8 RoPE periods, one zeroed by default).
BASE_CONFIG = dict(
    model_family='custom', num_query_tokens=16, hidden_dim=64, num_heads=2,
    num_layers=3, mlp_ratio=2.0, dropout=0.0, patch_size=16, in_channels=3,
    patch_embed_use_ln=False, init_patch_from_dinov3=False,
    rope_shift_coords=0.08, rope_jitter_coords=None, rope_rescale_coords=2.0,
    rope_p_zero_freqs=0.125, rope_zero_freqs_from='low', fps_pool_size=1000,
    fps_coord_range=0.95, nested_chunk_size=8, nested_budgets=(8, 16),
    nested_budget_weights=(1.0, 1.0), distill_output_dim=None, lr=8e-05)

# name -> (config changes, train mode?). Each moves one forward-relevant
# field off its default (train-mode fields are compared in train mode).
VARIANTS = {
    'default': ({}, False),
    'default_train': ({}, True),
    'patch8': (dict(patch_size=8), False),
    'chunk4': (dict(nested_chunk_size=4), False),
    'legacy_chunk4': (dict(matryoshka_chunk_size=4), False),
    'patch_ln': (dict(patch_embed_use_ln=True), False),
    'zero_quarter': (dict(rope_p_zero_freqs=0.25), False),
    'zero_high': (dict(rope_zero_freqs_from='high', rope_p_zero_freqs=0.25),
                  False),
    'zero_none': (dict(rope_p_zero_freqs=0.0), False),
    'distill48': (dict(distill_output_dim=48), False),
    'gray': (dict(in_channels=1), False),
    'shift': (dict(rope_shift_coords=0.3), True),
    'no_shift': (dict(rope_shift_coords=None), True),
    'jitter': (dict(rope_jitter_coords=1.5), True),
    'rescale': (dict(rope_rescale_coords=3.0), True),
    'no_rescale': (dict(rope_rescale_coords=None), True),
}
TRAIN_SEED = 1234
INPUT_HW = (32, 48)


def variant_config(name: str) -> dict:
    changes, _ = VARIANTS[name]
    cfg = dict(BASE_CONFIG, **changes)
    if 'matryoshka_chunk_size' in changes:
        del cfg['nested_chunk_size']  # an older file: only the legacy name
    return cfg


def chunk_size(cfg: dict) -> int:
    return cfg.get('nested_chunk_size', cfg.get('matryoshka_chunk_size'))


def budgets(cfg: dict):
    c = chunk_size(cfg)
    return list(range(c, cfg['num_query_tokens'] + 1, c))


def released_shapes(cfg: dict) -> dict:
    """Every key and shape of the released ``state_dict()`` (see the spec's
    parameter names)."""
    D, L, M = cfg['hidden_dim'], cfg['num_layers'], cfg['num_query_tokens']
    c, P, ch = chunk_size(cfg), cfg['patch_size'], cfg['in_channels']
    F = int(D * cfg['mlp_ratio'])
    s = {'pos_alpha': (L - 1, ), 'patch_embed.proj.weight': (D, ch, P, P),
         'patch_embed.proj.bias': (D, )}
    if cfg['patch_embed_use_ln']:
        s.update({'patch_embed.norm.weight': (D, ),
                  'patch_embed.norm.bias': (D, )})
    for i in range(M // c):
        s[f'query_token_chunks.{i}'] = (1, c, D)
    for i in range(M // c):
        s[f'qcoord_chunks.{i}'] = (1, c, 2)
    for i in range(L - 1):
        s[f'pos_linears.{i}.weight'] = (2, D)
        s[f'pos_linears.{i}.bias'] = (2, )
    for b in range(L):
        p = f'blocks.{b}.'
        s[p + 'norm_attn.weight'] = s[p + 'norm_attn.bias'] = (D, )
        for n in 'qkv':
            s[p + f'attn.{n}_proj.weight'] = (D, D)
            s[p + f'attn.{n}_proj.bias'] = (D, )
        s[p + 'attn.out_proj.weight'] = (D, D)
        s[p + 'attn.out_proj.bias'] = (D, )
        s[p + 'norm_ffn.weight'] = s[p + 'norm_ffn.bias'] = (D, )
        s[p + 'fc1.weight'], s[p + 'fc1.bias'] = (2 * F, D), (2 * F, )
        s[p + 'fc2.weight'], s[p + 'fc2.bias'] = (D, F), (D, )
    s['final_norm.weight'] = s['final_norm.bias'] = (D, )
    Dt = cfg.get('distill_output_dim')
    if Dt and Dt != D:
        s['output_proj.weight'], s['output_proj.bias'] = (Dt, D), (Dt, )
    return s


def seeded_state(cfg: dict, seed: int = 0) -> dict:
    """Weights large enough that every field visibly changes the outputs
    (core coordinates move by ~0.3 per layer, norms are not identities)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in released_shapes(cfg).items():
        r = torch.randn(shape, generator=g)
        if k == 'pos_alpha':
            v = 0.3 + 0.1 * r
        elif k.startswith('qcoord_chunks'):
            v = 0.8 * r
        elif k.startswith('query_token_chunks'):
            v = r
        elif 'norm' in k:
            v = (1 + 0.2 * r) if k.endswith('weight') else 0.1 * r
        elif k.endswith('bias'):
            v = 0.1 * r
        else:
            v = r / math.sqrt(math.prod(shape[1:]))
        state[k] = v.contiguous()
    return state


def write_released(path, cfg: dict, seed: int = 0, prefix: str = ''):
    """Save as the released ``save_ckpt`` does (no optimizer state)."""
    state = {prefix + k: v for k, v in seeded_state(cfg, seed).items()}
    torch.save(dict(student=state, config=dict(cfg), step=0), path)
    return path


def variant_input(cfg: dict) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randn(2, cfg['in_channels'], *INPUT_HW, generator=g)
