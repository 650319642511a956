# Copyright (c) veca_mm contributors. Apache-2.0.
"""VECA with LoRA adapters (Hu et al., 2021) from ``peft``.

Low-rank adaptation between the frozen linear probe and full fine-tuning:
VECA's own weights stay frozen (and shared between tasks); a rank-``r`` pair
``B A`` next to each adapted ``nn.Linear`` learns the task, and folds into the
weight for deployment (``W + alpha / r * B A``). ``peft`` injects the
adapters in place, so module paths (``blocks.3.attn.q_proj...``) and hence
the layer-wise lr decay, nested budgets and hooks keep working.

Checkpoints of a ``VECALoRA`` hold the adapters (and whatever else trains)
but no frozen backbone tensor, plus the reference to their base:
``lora_base_sha256`` (the digest of the frozen weights they were trained on)
and ``lora_base_checkpoint`` (the file they came from, as UTF-8 bytes).
Loading such a file puts the base back from ``init_cfg`` (``Pretrained``),
else from the recorded file, and refuses a base with another digest.
"""
import contextlib
import hashlib
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.registry import MODELS

from veca_mm.utils.type_names import type_name
from .veca import VECA

__all__ = ['VECALoRA', 'LORA_TARGETS']

ADAPTER = 'default'  # peft's adapter name; one adapter per backbone
DIGEST_KEY = 'lora_base_sha256'
PATH_KEY = 'lora_base_checkpoint'
# Target name (the issue's / config's) -> the linear's path inside a block.
LORA_TARGETS = {
    'q': 'attn.q_proj',
    'k': 'attn.k_proj',
    'v': 'attn.v_proj',
    'proj': 'attn.out_proj',
    'fc1': 'fc1',
    'fc2': 'fc2',
}
_CORE_BANK = ('query_token_chunks.', 'qcoord_chunks.')
_LORA_KEYS = ('rank', 'alpha', 'targets', 'dropout', 'train_cores')


def parse_lora_cfg(lora) -> dict:
    """Validated ``lora=dict(...)`` with defaults filled in."""
    if not isinstance(lora, dict):
        raise TypeError('VECALoRA needs lora=dict(rank=..., alpha=..., '
                        f'targets=...), got {lora!r}.')
    unknown = sorted(set(lora) - set(_LORA_KEYS))
    if unknown or 'rank' not in lora:
        raise ValueError(
            f'VECALoRA lora={lora!r}: unknown keys {unknown}'
            f'{"" if "rank" in lora else ", rank missing"}; it takes '
            f'{list(_LORA_KEYS)} (rank required).')
    rank = lora['rank']
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f'lora rank={rank!r}: use a positive int.')
    alpha = lora.get('alpha', rank)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) \
            or alpha <= 0:
        raise ValueError(f'lora alpha={alpha!r}: use a positive number (the '
                         'update is scaled by alpha / rank).')
    dropout = lora.get('dropout', 0.)
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f'lora dropout={dropout!r}: use a number in [0, 1).')
    targets = lora.get('targets', tuple(LORA_TARGETS))
    if isinstance(targets, str):
        targets = (targets, )
    bad = [t for t in targets if t not in LORA_TARGETS]
    if bad or not targets or len(set(targets)) != len(targets):
        raise ValueError(
            f'lora targets={targets!r}: use distinct names among '
            f'{list(LORA_TARGETS)} (q, k, v and proj of the attention, fc1 '
            'and fc2 of the MLP).')
    train_cores = lora.get('train_cores', False)
    if not isinstance(train_cores, bool):
        raise ValueError(f'lora train_cores={train_cores!r}: use True or '
                         'False.')
    return dict(rank=rank, alpha=alpha, targets=tuple(targets),
                dropout=float(dropout), train_cores=train_cores)


def _peft():
    try:
        import peft
    except ImportError as e:
        raise ImportError(
            'VECALoRA needs peft (pip install -r requirements/runtime.txt); '
            f'importing it failed: {e}') from e
    return peft


@MODELS.register_module()
class VECALoRA(VECA):
    """VECA with LoRA adapters on its attention and MLP projections.

    Takes every ``VECA`` argument, plus ``lora``. Only the adapters train
    (and the core bank with ``train_cores=True``); every other backbone
    weight is frozen (``requires_grad=False``) but the backbone runs in
    training mode: nested core budgets, coordinate augmentation and drop
    path act as in full fine-tuning. ``init_cfg`` ``Pretrained`` loads a
    plain VECA checkpoint (released, converted or mm) into the base.

    Args:
        lora (dict): the adapters, with keys

            - ``rank`` (int): rank ``r`` of each adapter. Required.
            - ``alpha`` (float): the update is scaled by ``alpha / rank``.
              Default: ``rank``.
            - ``targets`` (tuple[str]): which linears of every block get an
              adapter, among ``'q', 'k', 'v', 'proj'`` (attention) and
              ``'fc1', 'fc2'`` (MLP). Default: all six.
            - ``dropout`` (float): dropout on the adapters' input.
              Default: 0.
            - ``train_cores`` (bool): also train the core bank (initial
              core tokens and coordinates). Default: False.
        *args, **kwargs: ``VECA``'s arguments. ``frozen`` and
            ``frozen_stages`` are refused: the backbone is frozen already,
            and ``targets`` chooses what adapts.
    """

    def __init__(self, *args, lora: Optional[dict] = None, **kwargs):
        if lora is None:
            raise ValueError(
                'VECALoRA needs lora=dict(rank=..., alpha=..., targets=...); '
                "for a VECA without adapters use type='VECA'.")
        for name, default in (('frozen', False), ('frozen_stages', -1)):
            if kwargs.get(name, default) != default:
                raise ValueError(
                    f'VECALoRA: {name}={kwargs[name]!r} does not apply: the '
                    'backbone weights are frozen already and lora.targets '
                    "chooses what adapts (frozen=True is type='VECA''s "
                    'linear probe).')
        self.lora = parse_lora_cfg(lora)
        self._hooks_off = False
        super().__init__(*args, **kwargs)
        self._lora_paths = self._inject()
        self._trained = self._trained_names()
        for name, p in self.named_parameters():
            p.requires_grad = name in self._trained
        self.register_state_dict_post_hook(_drop_frozen)
        self.register_load_state_dict_pre_hook(_restore_base)

    def _inject(self) -> List[str]:
        peft = _peft()
        paths = [f'blocks.{i}.{LORA_TARGETS[t]}'
                 for i in range(self.num_layers) for t in self.lora['targets']]
        pattern = r'blocks\.\d+\.({})'.format('|'.join(
            LORA_TARGETS[t].replace('.', r'\.') for t in self.lora['targets']))
        config = peft.LoraConfig(
            r=self.lora['rank'], lora_alpha=self.lora['alpha'],
            lora_dropout=self.lora['dropout'], target_modules=pattern,
            bias='none')
        peft.inject_adapter_in_model(config, self, adapter_name=ADAPTER)
        found = [n for n, m in self.named_modules()
                 if isinstance(m, peft.tuners.lora.LoraLayer)]
        if sorted(found) != sorted(paths):
            raise RuntimeError(
                f'peft adapted {sorted(set(found) ^ set(paths))[:6]} against '
                'the expected layers; LORA_TARGETS no longer matches VECA.')
        return paths

    def _trained_names(self) -> frozenset:
        names = {f'{p}.lora_{ab}.{ADAPTER}.weight' for p in self._lora_paths
                 for ab in 'AB'}
        if self.lora['train_cores']:
            names |= {n for n, _ in self.named_parameters()
                      if n.startswith(_CORE_BANK)}
        own = {n for n, _ in self.named_parameters()}
        if not names <= own:
            raise RuntimeError(f'peft named the adapters otherwise: '
                               f'{sorted(names - own)[:4]} not in the model.')
        return frozenset(names)

    def _lora_layers(self) -> Iterator[Tuple[str, torch.nn.Module]]:
        for path in self._lora_paths:
            layer = self.get_submodule(path)
            if hasattr(layer, 'get_base_layer'):
                yield path, layer

    # ------------------------------------------------------------------ #
    @contextlib.contextmanager
    def _plain_view(self):
        """The module tree of a plain VECA for the duration: each adapted
        linear is swapped for its own base ``nn.Linear`` (the same tensors)
        and the checkpoint hooks stand aside, so VECA's init, strict loading
        and key diagnostics run unchanged on the base weights."""
        swapped = []
        for path, layer in list(self._lora_layers()):
            parent, _, attr = path.rpartition('.')
            parent = self.get_submodule(parent)
            setattr(parent, attr, layer.get_base_layer())
            swapped.append((parent, attr, layer))
        before, self._hooks_off = self._hooks_off, True
        try:
            yield self
        finally:
            for parent, attr, layer in swapped:
                setattr(parent, attr, layer)
            self._hooks_off = before

    def init_weights(self):
        """VECA's init (and strict ``Pretrained`` load) on the base weights;
        the adapters keep peft's init (``B = 0``: the adapted model starts
        as the base)."""
        with self._plain_view():
            super().init_weights()

    def base_digest(self) -> str:
        """sha256 over the frozen backbone tensors (names in plain VECA
        form, dtypes, shapes, bytes): which base the adapters belong to."""
        with self._plain_view():
            state = self.state_dict()
        h = hashlib.sha256()
        for key in sorted(state):
            if key in self._trained:
                continue
            t = state[key].detach().cpu().contiguous().reshape(-1)
            h.update(f'{key}|{t.dtype}|{tuple(state[key].shape)}|'.encode())
            h.update(t.view(torch.uint8).numpy())
        return h.hexdigest()

    @torch.no_grad()
    def merged_state_dict(self) -> Dict[str, torch.Tensor]:
        """Plain ``VECA`` weights with every adapter folded in
        (``W + alpha / rank * B A``): what ``type='VECA'`` with the same
        arguments loads strictly and computes the same with."""
        deltas = {p: layer.get_delta_weight(ADAPTER)
                  for p, layer in self._lora_layers()}
        with self._plain_view():
            state = {k: v.detach().clone()
                     for k, v in self.state_dict().items()}
        for path, delta in deltas.items():
            w = state[path + '.weight']
            w += delta.to(w.dtype)
        return state

    def _pretrained_checkpoint(self) -> Optional[str]:
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [
            self.init_cfg]
        for c in cfgs:
            if isinstance(c, dict) and type_name(c) in ('Pretrained',
                                                         'PretrainedInit'):
                return str(c.get('checkpoint'))
        return None

    def ensure_base(self, digest: str, recorded: Optional[str] = None,
                    source: str = 'the checkpoint'):
        """Make the frozen weights the base ``digest`` names: keep them when
        they are, else load ``init_cfg``'s ``Pretrained`` checkpoint (or,
        without one, the ``recorded`` file) and check it. A different base
        is an error."""
        if self.base_digest() == digest:
            return
        base = self._pretrained_checkpoint()
        if base is None and (not recorded or not osp.isfile(recorded)):
            raise ValueError(
                f'{source} holds LoRA adapters (no backbone weights) of a '
                f'base VECA whose frozen weights have sha256 {digest}, '
                f'recorded as {recorded!r}, and this model has no base to '
                'put them on: set model.backbone.init_cfg=dict(type='
                "'Pretrained', checkpoint=<that base>), or use the merged "
                'checkpoint of tools/model_converters/merge_lora.py with its '
                'config.')
        init_cfg = self.init_cfg
        if base is None:
            self.init_cfg = dict(type='Pretrained', checkpoint=recorded)
        try:
            with self._plain_view():
                VECA.init_weights(self)
        finally:
            self.init_cfg = init_cfg
        have = self.base_digest()
        if have != digest:
            raise ValueError(
                f'{source} holds LoRA adapters trained on another base: they '
                f'belong to frozen weights with sha256 {digest} (recorded '
                f'base {recorded!r}), but {base or recorded} gives {have}. '
                'Adapters are only meaningful on the weights they were '
                'trained with: point model.backbone.init_cfg at that base.')


def _drop_frozen(module: VECALoRA, state_dict, prefix, local_metadata):
    """``state_dict`` post-hook: no frozen backbone tensor in checkpoints,
    the base's digest instead."""
    if module._hooks_off:
        return
    for key in [k for k in state_dict if k.startswith(prefix)]:
        if key[len(prefix):] not in module._trained:
            del state_dict[key]
    state_dict[prefix + DIGEST_KEY] = torch.tensor(
        list(bytes.fromhex(module.base_digest())), dtype=torch.uint8)
    base = module._pretrained_checkpoint()
    state_dict[prefix + PATH_KEY] = torch.tensor(
        list(osp.abspath(base).encode() if base else b''), dtype=torch.uint8)


def _restore_base(module: VECALoRA, state_dict, prefix, local_metadata,
                  strict, missing_keys, unexpected_keys, error_msgs):
    """``load_state_dict`` pre-hook: check the adapters' base and fill in
    the frozen tensors from it, so nothing is reported missing."""
    if module._hooks_off:
        return
    keys = [k for k in state_dict if k.startswith(prefix)]
    if not keys:
        return
    digest_key, path_key = prefix + DIGEST_KEY, prefix + PATH_KEY
    extra = sorted(k for k in keys if k not in (digest_key, path_key)
                   and k[len(prefix):] not in module._trained)
    if digest_key not in state_dict or extra:
        raise ValueError(
            'VECALoRA loads checkpoints of VECALoRA models (adapters plus '
            f'{DIGEST_KEY}); this one '
            + (f'has frozen backbone keys such as {extra[:3]}'
               if extra else f'lacks {DIGEST_KEY}')
            + '. Start adapters from a plain VECA checkpoint with model.'
            "backbone.init_cfg=dict(type='Pretrained', checkpoint=...); run "
            'merged weights with the config merge_lora.py writes.')
    digest = bytes(state_dict.pop(digest_key).tolist()).hex()
    recorded = bytes(state_dict.pop(path_key, torch.zeros(0)).tolist())
    module.ensure_base(digest, recorded.decode() or None)
    module._hooks_off = True
    try:
        own = module.state_dict()
    finally:
        module._hooks_off = False
    for key, value in own.items():
        if key not in module._trained:
            state_dict[prefix + key] = value
