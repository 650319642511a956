import json

import pytest
import torch
from mmengine.logging import MessageHub

from veca_mm.models.backbones import VECA
from timm.layers import DropPath

from veca_mm.models.backbones.veca import ARCH_SETTINGS
from veca_mm.utils.stages import layer_budgets

from .conftest import TINY_ARCH, TINY_OFFICIAL_ARCH


def official(official_dir, **kw):
    kw.setdefault('output_cls_token', True)
    m = VECA(arch=TINY_OFFICIAL_ARCH,
             init_cfg=dict(type='Pretrained',
                           checkpoint=str(official_dir /
                                          'veca_tiny_official.pt')),
             **kw)
    m.init_weights()
    return m.eval()


@pytest.fixture(scope='module')
def ref(official_dir):
    return torch.load(official_dir / 'veca_tiny_official_ref.pt',
                      weights_only=True)


@pytest.mark.parametrize('budget', [8, 16, 24])
def test_parity_with_released_code(official_dir, ref, budget):
    model = official(official_dir, core_budgets=budget)
    with torch.no_grad():
        (fmap, cls), = model(ref['input'])
    want = ref['outputs'][budget]
    assert fmap.shape == (2, 128, 4, 6)
    torch.testing.assert_close(fmap.flatten(2).transpose(1, 2),
                               want['patches'], atol=1e-5, rtol=0)
    torch.testing.assert_close(cls, want['cls'], atol=1e-5, rtol=0)


def test_set_core_budgets_without_rebuilding(official_dir, ref):
    model = official(official_dir)
    model.set_core_budgets(8)
    with torch.no_grad():
        (_, cls), = model(ref['input'])
    torch.testing.assert_close(cls, ref['outputs'][8]['cls'], atol=1e-5,
                               rtol=0)
    with pytest.raises(ValueError, match='core budget 12'):
        model.set_core_budgets(12)


def _released_keys_and_meta_model(official_dir, family):
    """The released ``family`` checkpoint's key -> shape map and a VECA of
    that family on the meta device."""
    want = json.loads(
        (official_dir / 'released_keys' / f'veca_{family}.json').read_text())
    with torch.device('meta'):
        return want, VECA(arch=family)


@pytest.mark.parametrize('family', ['small', 'base', 'large'])
def test_released_key_sets_and_shapes(official_dir, family):
    # as the released distillation pipeline builds them (small and large
    # with the 768-wide output_proj)
    want, model = _released_keys_and_meta_model(official_dir, family)
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert sorted(got) == sorted(want)
    assert got == want


@pytest.mark.parametrize('family', ['small', 'base', 'large'])
def test_released_shapes_load_strictly(official_dir, family):
    want, model = _released_keys_and_meta_model(official_dir, family)
    with torch.device('meta'):
        state = {k: torch.empty(v) for k, v in want.items()}
    model.load_veca_state_dict(state)  # strict: raises on any mismatch
    other = 'base' if family != 'base' else 'small'
    with torch.device('meta'):
        wrong = VECA(arch=other)
    with pytest.raises(ValueError, match=f"checkpoint is arch='{family}'"):
        wrong.load_veca_state_dict(state)


def test_released_checkpoint_file_loads(tmp_path, official_dir):
    want = json.loads(
        (official_dir / 'released_keys' / 'veca_small.json').read_text())
    s = ARCH_SETTINGS['small']
    cfg = dict(hidden_dim=s['embed_dims'], num_heads=s['num_heads'],
               num_layers=s['num_layers'], num_query_tokens=s['num_cores'],
               mlp_ratio=s['mlp_ratio'], distill_output_dim=768)
    state = {f'student.{k}': torch.full(v, 0.5) for k, v in want.items()}
    torch.save(dict(student=state, config=cfg, step=1), tmp_path / 'rel.pt')
    model = VECA(arch='small')
    model.load_pretrained(str(tmp_path / 'rel.pt'))
    assert all(bool((v == 0.5).all()) for v in model.state_dict().values())


def test_odd_sizes_pad_bottom_right():
    model = VECA(arch=TINY_ARCH, out_indices=(1, -1)).eval()
    x = torch.randn(1, 3, 65, 97)
    outs = model(x)
    assert len(outs) == 2
    assert all(o.shape == (1, 32, 5, 7) for o in outs)
    # padding is zeros at the bottom/right: same as padding by hand
    padded = torch.nn.functional.pad(x, (0, 15, 0, 15))
    torch.testing.assert_close(model(padded)[1], outs[1])


def test_padding_in_eval_warns_once_with_the_fix():
    """Padding inside the backbone misaligns a segmentor's output (#30):
    in eval mode one warning per model naming sizes and the fix; none for
    patch multiples and none in training (crops, detectors)."""
    import warnings
    model = VECA(arch=TINY_ARCH).eval()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        model(torch.randn(1, 3, 32, 48))  # multiples of 16
        model.train()(torch.randn(1, 3, 33, 50))
        model.eval()
        for _ in range(2):
            model(torch.randn(1, 3, 65, 97))
        VECA(arch=TINY_ARCH, patch_size=8).eval()(torch.randn(1, 3, 20, 24))
    msgs = [str(w.message) for w in seen if w.category is UserWarning
            and 'VECA got' in str(w.message)]
    assert len(msgs) == 2, msgs
    assert '65x97' in msgs[0] and 'patch size 16' in msgs[0]
    assert 'test_cfg=dict(size_divisor=16)' in msgs[0]
    assert 'pad_size_divisor=a multiple of 16' in msgs[0]
    assert '20x24' in msgs[1] and 'size_divisor=8)' in msgs[1]


def test_one_patch_works_and_smaller_is_an_error():
    model = VECA(arch=TINY_ARCH).eval()
    assert model(torch.randn(1, 3, 16, 16))[0].shape == (1, 32, 1, 1)
    with pytest.raises(ValueError, match='smaller than one 16x16 patch'):
        model(torch.randn(1, 3, 15, 40))
    with pytest.raises(ValueError, match='in_channels'):
        model(torch.randn(1, 1, 32, 32))


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    a = VECA(arch=TINY_ARCH, coord_aug=False, drop_path_rate=0.)
    b = VECA(arch=TINY_ARCH, coord_aug=False, with_cp=True)
    b.load_state_dict(a.state_dict())
    a.train(), b.train()
    x = torch.randn(2, 3, 48, 64)
    ya, yb = a(x)[0], b(x)[0]
    torch.testing.assert_close(ya, yb)
    g = torch.randn_like(ya)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert (pa.grad is None) == (pb.grad is None), n
        if pa.grad is not None:
            torch.testing.assert_close(pa.grad, pb.grad, msg=n)


def _capture_blocks(model):
    seen = []

    def hook(mod, args):
        x, cis, c = args
        seen.append(dict(x=x.detach().clone(), cis=cis.detach().clone(), c=c))

    handles = [b.register_forward_pre_hook(hook) for b in model.blocks]
    return seen, handles


def _run_per_stage(official_dir, ref, core_budgets):
    """The official VECA at per-stage ``core_budgets`` run on ``ref``'s
    input: the model, what each block received (``_capture_blocks``) and
    block 1's output."""
    model = official(official_dir, core_budgets=core_budgets)
    seen, _ = _capture_blocks(model)
    outs = []
    model.blocks[1].register_forward_hook(lambda m, a, o: outs.append(o))
    with torch.no_grad():
        model(ref['input'])
    return model, seen, outs


def test_per_stage_budgets_drop_tail_cores(official_dir, ref):
    model, seen, outs = _run_per_stage(official_dir, ref, (24, 8))
    assert [s['c'] for s in seen] == [24, 24, 8, 8]
    n = ref['input'].shape[0]
    carried = outs[0]
    # entering stage 2 keeps the first 8 cores and every patch token
    torch.testing.assert_close(seen[2]['x'][:, :8], carried[:, :8])
    torch.testing.assert_close(seen[2]['x'][:, 8:], carried[:, 24:])
    assert seen[2]['x'].shape[:2] == (n, 8 + 24)


def test_per_stage_budgets_append_initial_cores(official_dir, ref):
    model, seen, outs = _run_per_stage(official_dir, ref, (8, 24))
    assert [s['c'] for s in seen] == [8, 8, 24, 24]
    x2 = seen[2]['x']
    torch.testing.assert_close(x2[:, :8], outs[0][:, :8])
    init_tokens = torch.cat(list(model.query_token_chunks)[1:3], 1)
    torch.testing.assert_close(x2[:, 8:24], init_tokens.expand(2, -1, -1))
    torch.testing.assert_close(x2[:, 24:], outs[0][:, 8:])
    # appended cores enter at their learned initial coordinates
    init_u = torch.cat(list(model.qcoord_chunks)[1:3], 1)
    cis = model.rope.cis(torch.tanh(init_u))
    torch.testing.assert_close(seen[2]['cis'][:, 8:24],
                               cis.expand(2, -1, -1))


def test_per_stage_budget_differs_from_uniform(official_dir, ref):
    with torch.no_grad():
        a = official(official_dir, core_budgets=(24, 8))(ref['input'])[0][1]
        b = official(official_dir, core_budgets=8)(ref['input'])[0][1]
        c = official(official_dir, core_budgets=24)(ref['input'])[0][1]
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


NESTED = dict(budgets=(8, 16), weights=(1, 3), seed=3)


def test_nested_draws_same_on_every_rank_and_reproducible():
    torch.manual_seed(0)
    rank0 = VECA(arch=TINY_ARCH, train_core_budgets=NESTED)
    torch.manual_seed(1)  # another process: different global RNG state
    torch.rand(7)
    rank1 = VECA(arch=TINY_ARCH, train_core_budgets=NESTED)
    seq0 = [rank0.draw_train_budgets(i) for i in range(200)]
    seq1 = [rank1.draw_train_budgets(i) for i in range(200)]
    assert seq0 == seq1
    # reproducible from the iteration alone (a resumed run at iter 150)
    assert [rank0.draw_train_budgets(i) for i in range(150, 200)] == \
        seq0[150:]
    counts = {b: seq0.count(b) for b in [(8, ), (16, )]}
    assert counts[(8, )] > 20 and counts[(16, )] > 100  # weights 1:3
    other = VECA(arch=TINY_ARCH, train_core_budgets=dict(NESTED, seed=4))
    assert [other.draw_train_budgets(i) for i in range(200)] != seq0


def test_nested_training_uses_the_runner_iteration(monkeypatch):
    model = VECA(arch=TINY_ARCH, train_core_budgets=NESTED).train()
    seen, _ = _capture_blocks(model)
    # A hub of our own, made current only for this test (monkeypatch undoes
    # it): MessageHub.get_instance would leave it as the process's current
    # hub, at iter=8, for every later test.
    hub = MessageHub('veca_budget_test')
    monkeypatch.setattr(MessageHub, 'get_current_instance',
                        classmethod(lambda cls: hub))
    for it in (5, 6, 7, 8):
        hub.update_info('iter', it)
        model(torch.randn(1, 3, 32, 32))
        assert seen[-1]['c'] == model.draw_train_budgets(it)[0]
    model.eval()
    model(torch.randn(1, 3, 32, 32))
    assert seen[-1]['c'] == 16  # evaluation uses core_budgets (all cores)


def test_per_stage_nested_draws():
    model = VECA(arch=TINY_ARCH, train_core_budgets=dict(
        budgets=[(16, 8), (8, 16), (16, 16)]))
    draws = {model.draw_train_budgets(i) for i in range(60)}
    assert draws == {(16, 8), (8, 16), (16, 16)}


def test_small_budget_still_gives_every_param_a_grad():
    """DDP must never see unused parameters, whatever the budget."""
    model = VECA(arch=TINY_ARCH, core_budgets=(8, 8)).train()
    model(torch.randn(1, 3, 32, 32))[0].sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert float(model.query_token_chunks[1].grad.abs().sum()) == 0


def test_drop_path_linear_and_active_only_in_training():
    model = VECA(arch=TINY_ARCH, drop_path_rate=0.3, coord_aug=False)
    assert all(isinstance(b.drop_path, DropPath) for b in model.blocks)
    rates = [b.drop_path.drop_prob for b in model.blocks]
    assert rates[0] == 0 and abs(rates[-1] - 0.3) < 1e-6
    assert rates == sorted(rates)
    x = torch.randn(8, 3, 32, 32)
    model.train()
    torch.manual_seed(0)
    a = model(x)[0]
    torch.manual_seed(1)
    b = model(x)[0]
    assert not torch.allclose(a, b)  # stochastic depth drops samples
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0])


def test_frozen_stages():
    model = VECA(arch=TINY_ARCH, frozen_stages=2).train()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any(n.startswith('patch_embed') for n in frozen)
    assert any(n.startswith('query_token_chunks') for n in frozen)
    assert any(n.startswith('blocks.1.') for n in frozen)
    assert not any(n.startswith('blocks.2.') for n in frozen)
    assert 'pos_linears.0.weight' in frozen
    assert 'pos_linears.1.weight' not in frozen
    assert not model.blocks[0].training and model.blocks[2].training


def test_autocast_bf16_matches_fp32():
    torch.manual_seed(0)
    model = VECA(arch=TINY_ARCH).eval()
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        ref = model(x)[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(x)[0]
    assert out.shape == ref.shape == (2, 32, 2, 3)
    # bf16 keeps 8 mantissa bits (relative step 2**-8 = 0.004); through 4
    # layers and the final LayerNorm (unit-scale outputs) the error stays a
    # few steps. A wrong bf16 path (e.g. a dropped RoPE or softmax in bf16
    # over the wrong axis) is off by O(1).
    err = (out.float() - ref).abs()
    assert float(err.max()) < 0.1 and float(err.mean()) < 0.02, \
        (float(err.max()), float(err.mean()))
    assert float(ref.abs().mean()) > 0.5  # the outputs are not all tiny


@pytest.mark.parametrize('kwargs, message', [
    (dict(core_budgets=12), r'core budget 12 .* use one of \[8, 16\]'),
    (dict(core_budgets=32), r'core budget 32 .*bank of 16'),
    (dict(core_budgets=(8, 8, 8)), r'do not split into 3 equal stages'),
    (dict(core_budgets=(8, ) * 8),
     r'8 per-stage budgets, but the 4 layers .* in \[1, 2, 4\]'),
    (dict(arch='huge'), r"Unknown VECA arch 'huge'"),
    (dict(arch=dict(TINY_ARCH, depth=3)), r"unknown keys \['depth'\]"),
    (dict(arch={k: v for k, v in TINY_ARCH.items() if k != 'num_cores'}),
     r"missing keys \['num_cores'\]"),
    (dict(out_indices=(1, 4)), r'out_indices contains 4'),
    (dict(out_indices=()), r'out_indices is empty'),
    (dict(out_indices=[]), r'out_indices is empty'),
    (dict(train_core_budgets=dict(budgets=(8, 16), weights=())),
     r'one per budget \(2\), got \[\]'),
    (dict(train_core_budgets=dict(budgets=(8, 24))), r'core budget 24'),
    (dict(train_core_budgets=dict(budgets=(8, 16), weights=(1, ))),
     r'one per budget'),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    kwargs = dict(dict(arch=TINY_ARCH), **kwargs)
    with pytest.raises(ValueError, match=message):
        VECA(**kwargs)


def test_record_attention_is_the_forward_itself():
    """The weights VECA.record_attention() keeps are the ones the forward
    uses: the output with recording on equals the output with it off."""
    torch.manual_seed(0)
    model = VECA(arch=TINY_ARCH, core_budgets=(16, 8), out_indices=(0, 3),
                 coord_aug=False).eval()
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        plain = model(x)
        with model.record_attention() as weights:
            recorded = model(x)
    for a, b in zip(plain, recorded):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert all(blk.attn.attn_record is None for blk in model.blocks)
    T = 2 * 3  # patches
    assert [tuple(w.shape) for w in weights] == [
        (2, 2, c, c + T) for c in layer_budgets((16, 8), 4)]
    for w in weights:  # softmax over all keys
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    # switching the record on must change nothing but what is kept: a
    # record that computed other weights would change the output
    model.blocks[0].attn.attn_record = []
    with torch.no_grad():
        model.blocks[0].attn.q_proj.weight.mul_(3)
        changed = model(x)
        model.blocks[0].attn.attn_record = None
        torch.testing.assert_close(model(x)[1], changed[1])
    assert not torch.allclose(changed[1], plain[1])


def test_stage_split_is_shared_with_the_flop_formula():
    """The layer -> budget split VECA runs is the one flops.py counts."""
    from veca_mm.utils.flops import veca_flops
    model = VECA(arch=TINY_ARCH, core_budgets=(16, 8), coord_aug=False).eval()
    with torch.no_grad(), model.record_attention() as weights:
        model(torch.randn(1, 3, 32, 32))
    used = tuple(w.shape[2] for w in weights)
    assert used == layer_budgets((16, 8), 4) == (16, 16, 8, 8)
    f = veca_flops(TINY_ARCH, 32, 32, (16, 8))
    N, D = 4, TINY_ARCH['embed_dims']
    assert f['attention'] == sum(4 * (c * (c + N) + N * c) * D for c in used)
    with pytest.raises(ValueError, match='do not split into 3 equal'):
        layer_budgets((8, 8, 8), 4)
