import pytest
import torch

from veca_mm.models.backbones import VECA

from .conftest import TINY_OFFICIAL_ARCH, load_tool


def load_converter():
    return load_tool('tools/model_converters/veca2mm.py')


def features(path, **kw):
    m = VECA(arch=TINY_OFFICIAL_ARCH, output_cls_token=True, core_budgets=16,
             init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kw)
    m.init_weights()
    torch.manual_seed(0)
    with torch.no_grad():
        return m.eval()(torch.randn(1, 3, 48, 80))[0]


@pytest.fixture(scope='module')
def released(official_dir):
    return official_dir / 'veca_tiny_official.pt'


@pytest.fixture(scope='module')
def reference(released):
    return features(released)


def assert_same(a, b):
    torch.testing.assert_close(a[0], b[0], atol=0, rtol=0)
    torch.testing.assert_close(a[1], b[1], atol=0, rtol=0)


def test_converter_roundtrip(tmp_path, released, reference):
    conv = load_converter()
    dst = tmp_path / 'veca_tiny.pth'
    meta = conv.convert(str(released), str(dst))
    assert meta['veca_arch'] == TINY_OFFICIAL_ARCH
    ckpt = torch.load(dst, weights_only=True)
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    assert ckpt['meta']['patch_norm'] is False
    assert_same(features(dst), reference)


def test_converter_refuses_other_files(tmp_path, released):
    conv = load_converter()
    bad = tmp_path / 'mm.pth'
    torch.save(dict(state_dict={'backbone.x': torch.zeros(1)}), bad)
    with pytest.raises(ValueError, match='not a released VECA checkpoint.*'
                       'found .*state_dict'):
        conv.convert(str(bad), str(tmp_path / 'out.pth'))


def test_whole_model_and_backbone_only_mm_checkpoints(tmp_path, released,
                                                      reference):
    state = torch.load(released, weights_only=True)['student']
    state = {k[len('module.'):]: v for k, v in state.items()}
    whole = dict(state_dict={f'backbone.{k}': v for k, v in state.items()},
                 meta=dict(iter=3))
    whole['state_dict']['decode_head.conv_seg.weight'] = torch.zeros(2, 4)
    torch.save(whole, tmp_path / 'whole.pth')
    torch.save(dict(state_dict=state), tmp_path / 'backbone.pth')
    torch.save({f'module.{k}': v for k, v in state.items()},
               tmp_path / 'plain.pth')
    for name in ('whole.pth', 'backbone.pth', 'plain.pth'):
        assert_same(features(tmp_path / name), reference)


def test_checkpoint_of_another_arch_names_both(released):
    m = VECA(arch='small',
             init_cfg=dict(type='Pretrained', checkpoint=str(released)))
    with pytest.raises(ValueError) as err:
        m.init_weights()
    msg = str(err.value)
    assert "arch='small'" in msg and "'embed_dims': 128" in msg
    assert 'shape mismatches' in msg and 'missing keys' in msg


def test_patch_norm_hint(tmp_path, released):
    state = torch.load(released, weights_only=True)
    state['student']['module.patch_embed.norm.weight'] = torch.ones(128)
    state['student']['module.patch_embed.norm.bias'] = torch.zeros(128)
    state['config']['patch_embed_use_ln'] = True
    torch.save(state, tmp_path / 'ln.pt')
    with pytest.raises(ValueError, match='set patch_norm=True'):
        features(tmp_path / 'ln.pt')
    assert features(tmp_path / 'ln.pt', patch_norm=True)[0].shape[1] == 128


def test_checkpoint_of_another_model_type(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1),
                                'backbone.bn1.weight': torch.zeros(1)}),
               path)
    with pytest.raises(ValueError, match='does not hold VECA weights.*'
                       'another model type'):
        features(path)


def test_missing_pretrained_names_the_converter(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='(?s)veca2mm.py.*init_cfg=None'):
        features(tmp_path / 'checkpoints' / 'veca_base.pth')


# --------------------------------------------------------------------- #
# Parity through init_backbone and through an mm config (issue #13)
from mmengine.config import Config  # noqa: E402
from mmengine.registry import MODELS  # noqa: E402

from veca_mm.apis import check_load_from, init_backbone  # noqa: E402
from veca_mm.models.backbones.veca import ARCH_SETTINGS  # noqa: E402

FIXTURES = {'official': ('veca_tiny_official.pt', 'veca_tiny_official_ref.pt'),
            'distilled': ('veca_tiny_distilled.pt',
                          'veca_tiny_distilled_ref.pt')}


def load_ref(official_dir, which):
    return torch.load(official_dir / FIXTURES[which][1], weights_only=True)


def assert_ref(out, want):
    fmap, cls = out
    torch.testing.assert_close(cls, want['cls'], rtol=0, atol=1e-5)
    torch.testing.assert_close(fmap.flatten(2).transpose(1, 2),
                               want['patches'], rtol=0, atol=1e-5)


@pytest.mark.parametrize('which', ['official', 'distilled'])
def test_parity_through_init_backbone(official_dir, which):
    ref = load_ref(official_dir, which)
    for C, want in ref['outputs'].items():
        model = init_backbone(official_dir / FIXTURES[which][0],
                              out_indices=-1, output_cls_token=True,
                              core_budgets=C, distill_proj=True)
        assert not model.training
        with torch.no_grad():
            assert_ref(model(ref['input'])[0], want)


@pytest.mark.parametrize('which', ['official', 'distilled'])
def test_parity_through_config_pretrained(tmp_path, official_dir, which):
    """The converter's printed block, pasted into a config, with the
    released file and with the converted one as Pretrained checkpoint."""
    conv = load_converter()
    src = str(official_dir / FIXTURES[which][0])
    dst = str(tmp_path / 'converted.pth')
    meta = conv.convert(src, dst)
    ref = load_ref(official_dir, which)
    for ckpt in (src, dst):
        # pasted into a model dict, as a user would
        text = 'model = dict(\n' + conv.backbone_config(
            meta['veca_args'], ckpt) + '\n)'
        cfg = Config.fromstring(text, '.py')
        cfg.merge_from_dict({'model.backbone.out_indices': -1,
                             'model.backbone.output_cls_token': True,
                             'model.backbone.distill_proj': True})
        model = MODELS.build(cfg.model.backbone)
        model.init_weights()
        model.eval()
        for C, want in ref['outputs'].items():
            model.set_core_budgets(C)
            with torch.no_grad():
                assert_ref(model(ref['input'])[0], want)


def test_distilled_student_loads_without_projection_use(official_dir):
    """distill_proj=False (fine-tuning): the final-normed 96-wide stream;
    output_proj loaded, frozen and unused."""
    path = official_dir / 'veca_tiny_distilled.pt'
    ref = load_ref(official_dir, 'distilled')
    plain = init_backbone(path, out_indices=(1, 3), output_cls_token=True,
                          core_budgets=16)
    proj = init_backbone(path, out_indices=(1, 3), output_cls_token=True,
                         core_budgets=16, distill_proj=True)
    assert plain.arch['distill_dims'] == 128 and plain.embed_dims == 96
    assert not any(p.requires_grad for p in plain.output_proj.parameters())
    assert all(p.requires_grad for p in proj.output_proj.parameters())
    with torch.no_grad():
        (m1, c1), (m3, c3) = plain(ref['input'])
        (p1, _), (p3, pc3) = proj(ref['input'])
    assert m3.shape[1] == 96 and p3.shape[1] == 128
    torch.testing.assert_close(m1, p1)  # only the last layer is projected
    # the projection of the plain output is the released output
    torch.testing.assert_close(proj.output_proj(c3), pc3)
    assert_ref((p3, pc3), ref['outputs'][16])
    with pytest.raises(ValueError, match='lacks layer 3: add -1'):
        init_backbone(path, out_indices=(1, ), distill_proj=True)
    with pytest.raises(ValueError, match='needs final_norm=True'):
        init_backbone(path, final_norm=False, distill_proj=True)


@pytest.mark.parametrize('family', ['small', 'base', 'large'])
def test_teacherless_key_lists_need_distill_dims_none(official_dir, family):
    """The older *_state_dict_shapes.json lists (students built without a
    teacher) load into the family with distill_dims=None; into the released
    family they are refused with that hint (base has no projection)."""
    import json
    want = json.loads((official_dir / f'veca_{family}_state_dict_shapes.json'
                       ).read_text())
    state = {k: torch.empty(v, device='meta') for k, v in want.items()}
    with torch.device('meta'):
        VECA(arch=dict(ARCH_SETTINGS[family], distill_dims=None)
             ).load_veca_state_dict(state)
        released = VECA(arch=family)
    if family == 'base':
        released.load_veca_state_dict(state)
    else:
        with pytest.raises(ValueError, match='distill_dims=None'):
            released.load_veca_state_dict(state)


def test_converter_meta_and_printed_block(tmp_path, official_dir, capsys):
    conv = load_converter()
    src = str(official_dir / 'veca_tiny_distilled.pt')
    conv.main([src, '--print-config'])
    printed = capsys.readouterr().out
    assert not list(tmp_path.iterdir())
    cfg = Config.fromstring(f'model = dict(\n{printed}\n)', '.py'
                            ).model.backbone
    assert cfg.type == 'VECA' and cfg.arch['distill_dims'] == 128
    assert cfg.rope_zero_from == 'low' and cfg.core_chunk == 8
    dst = tmp_path / 'd.pth'
    conv.main([src, str(dst)])
    assert "checkpoint='" + str(dst) in capsys.readouterr().out
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['veca_args'] == {k: v for k, v in cfg.items()
                                 if k not in ('type', 'out_indices',
                                              'distill_proj', 'init_cfg')}
    assert meta['released_config']['distill_output_dim'] == 128
    # the converted file describes the same VECA as the released one
    a = init_backbone(dst, core_budgets=8)
    b = init_backbone(src, core_budgets=8)
    assert a.checkpoint_args() == b.checkpoint_args()


def test_converted_meta_refuses_another_forward(tmp_path, released):
    conv = load_converter()
    dst = tmp_path / 'c.pth'
    conv.convert(str(released), str(dst))
    m = VECA(arch=TINY_OFFICIAL_ARCH, rope_zero_from='high',
             init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    with pytest.raises(ValueError, match="rope_zero_freqs_from \\(VECA "
                       "rope_zero_from\\)='low'.*set rope_zero_from='low'"):
        m.init_weights()
    with pytest.raises(ValueError, match='num_heads'):
        init_backbone(dst, arch=dict(TINY_OFFICIAL_ARCH, num_heads=8))


def test_pretrained_prefix_map_location_and_list_form(tmp_path, released,
                                                      reference):
    state = torch.load(released, weights_only=True)['student']
    whole = {f'backbone.{k[len("module."):]}': v for k, v in state.items()}
    whole['neck.conv.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=whole), tmp_path / 'whole.pth')
    calls = []

    def where(storage, loc):
        calls.append(loc)
        return storage

    m = VECA(arch=TINY_OFFICIAL_ARCH, output_cls_token=True, core_budgets=16,
             init_cfg=dict(type='Pretrained', prefix='backbone',
                           checkpoint=str(tmp_path / 'whole.pth'),
                           map_location=where))
    m.init_weights()
    assert calls  # map_location was handed to torch.load
    torch.manual_seed(0)
    with torch.no_grad():
        assert_same(m.eval()(torch.randn(1, 3, 48, 80))[0], reference)
    with pytest.raises(ValueError, match="no key starts with prefix 'head.'"):
        VECA(arch=TINY_OFFICIAL_ARCH, init_cfg=dict(
            type='Pretrained', prefix='head.',
            checkpoint=str(tmp_path / 'whole.pth'))).init_weights()
    with pytest.raises(ValueError, match=r"unknown \['strict'\]"):
        VECA(arch=TINY_OFFICIAL_ARCH, init_cfg=dict(
            type='Pretrained', strict=False,
            checkpoint=str(released))).init_weights()
    # list form: the other entries first, then a strict load
    del whole['backbone.blocks.3.fc2.bias']
    torch.save(dict(state_dict=whole), tmp_path / 'half.pth')
    for ckpt, ok in ((released, True), (tmp_path / 'half.pth', False)):
        m = VECA(arch=TINY_OFFICIAL_ARCH, output_cls_token=True,
                 core_budgets=16, init_cfg=[
                     dict(type='Constant', val=0., layer='Linear'),
                     dict(type='Pretrained', checkpoint=str(ckpt))])
        if not ok:
            with pytest.raises(ValueError,
                               match=r'missing keys \(1\): blocks.3.fc2.bias'):
                m.init_weights()
            continue
        m.init_weights()
        torch.manual_seed(0)
        with torch.no_grad():
            assert_same(m.eval()(torch.randn(1, 3, 48, 80))[0], reference)


class _Segmentor(torch.nn.Module):

    def __init__(self, **kw):
        super().__init__()
        self.backbone = VECA(arch=TINY_OFFICIAL_ARCH, **kw)
        self.head = torch.nn.Linear(4, 2)


def test_check_load_from_refuses_half_loaded_backbones(tmp_path, released):
    model = _Segmentor()
    sd = {f'module.{k}': v for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=sd, meta={}), tmp_path / 'ok.pth')
    check_load_from(model, str(tmp_path / 'ok.pth'))
    del sd['module.backbone.pos_alpha']
    sd['module.backbone.extra.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=sd), tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match=r'(?s)half-initialised.*missing '
                       r'backbone keys \(1\): pos_alpha.*unexpected backbone '
                       r'keys \(1\): extra.weight'):
        check_load_from(model, str(tmp_path / 'bad.pth'))
    with pytest.raises(ValueError, match='released VECA checkpoint'):
        check_load_from(model, str(released))
    bigger = _Segmentor(patch_norm=True)
    with pytest.raises(ValueError, match='missing backbone keys'):
        check_load_from(bigger, str(tmp_path / 'ok.pth'))


def test_tools_test_reports_missing_backbone_keys(tmp_path):
    """tools/test.py CONFIG CKPT stops with the key list, before testing."""
    from .conftest import REPO
    cfg_path = REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'
    data = tmp_path / 'ade'
    load_tool('tools/dataset_converters/make_mini_ade20k.py').make_mini_ade20k(
        str(data), num_train=1, num_val=1, size=32)
    cfg = Config.fromfile(cfg_path)
    model = MODELS.build(cfg.model)
    sd = {k: v for k, v in model.state_dict().items()
          if not k.startswith('backbone.blocks.1.')}
    torch.save(dict(state_dict=sd, meta={}), tmp_path / 'ckpt.pth')
    test_tool = load_tool('tools/test.py')
    opts = [f'test_dataloader.dataset.data_root={data}/ADEChallengeData2016',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False']
    with pytest.raises(ValueError, match=r'missing backbone keys \(\d+\): '
                       'blocks.1.'):
        test_tool.main([str(cfg_path), str(tmp_path / 'ckpt.pth'),
                        '--work-dir', str(tmp_path / 'w'), '--cfg-options']
                       + opts)


def test_layer_decay_places_the_projection_on_the_output_side():
    from veca_mm.engine.optimizers.layer_decay_optim_constructor import \
        get_layer_id_for_veca
    assert get_layer_id_for_veca('backbone.output_proj.weight', 12) == 13


def test_check_load_from_maps_the_file_instead_of_reading_it(tmp_path,
                                                              monkeypatch):
    """The runner reads load_from itself: the check only maps the file
    (keys and shapes), so a load reads the weights once."""
    import veca_mm.apis.checkpoints as apis_ckpt
    model = _Segmentor()
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'ok.pth')
    real, calls = apis_ckpt.load_checkpoint_safely, []

    def spy(path, **kw):
        calls.append(kw)
        return real(path, **kw)

    monkeypatch.setattr(apis_ckpt, 'load_checkpoint_safely', spy)
    check_load_from(model, str(tmp_path / 'ok.pth'))
    assert [c.get('mmap') for c in calls] == [True]


def test_init_backbone_is_marked_initialised(released):
    """Through mmengine's public flag: a model that holds it, initialised
    by a runner (init_weights of the parent), keeps the loaded weights."""
    from mmengine.model import BaseModule
    model = init_backbone(released, core_budgets=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert model.is_init
    parent = BaseModule()
    parent.backbone = model
    parent.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
