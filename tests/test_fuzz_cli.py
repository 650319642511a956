"""Property-based fuzzing of the command-line tools (issue #26, item 1).

``tools/train.py``, ``tools/test.py``, ``tools/image_demo.py``,
``tools/deployment/pytorch2onnx.py`` and ``tools/analysis_tools/
{budget_sweep,choose_budget}.py`` get generated argument lists: every piece
(the config, the checkpoint, each option) is either valid or one of the
junk forms a user types (a budget of 0, -8, 12, 2**100 or ``x``, too many
stages, duplicates; NaN and inf; sizes that are no multiple of the patch
size or huge; devices that are not here; paths that do not exist,
directories where files are expected and files where directories are; a
config that is a text file, empty, a .py with a syntax error or not a VECA
model; checkpoints that are empty, garbage, a truncated zip or a directory;
``--cfg-options`` that mmengine's ``DictAction`` cannot parse or that break
the config).

Property: ``main(argv)`` (in process) exits with status 2 (argparse) or with
a one-line ``SystemExit`` message ``"<tool>: ..."`` that names one of the
junk pieces (its option, key or path), never a traceback, and never gets to
the expensive step (``Runner``, inferencer, export, evaluation: patched to
raise ``Reached``) when a piece is junk. An argument list that is all valid
must get there (no false refusal).

Each class of failure the fuzzing found is kept below as a regular test.
"""
import contextlib
import copy
import io
import os
import os.path as osp
import zipfile
from collections import Counter

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from .conftest import REPO, load_tool
from .fuzzing import examples

SEG = str(REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py')
# the mini config's VECA: 32 cores in chunks of 8, 4 layers, patch size 8
BUDGETS = (8, 16, 24, 32)
STAGES = (1, 2, 4)
PATCH = 8

TOOLS = dict(train='tools/train.py', test='tools/test.py',
             demo='tools/image_demo.py',
             onnx='tools/deployment/pytorch2onnx.py',
             sweep='tools/analysis_tools/budget_sweep.py',
             choose='tools/analysis_tools/choose_budget.py')
PREFIX = dict(train='train.py', test='test.py', demo='image_demo.py',
              onnx='pytorch2onnx.py', sweep='budget_sweep.py',
              choose='choose_budget.py')
# the expensive step of each tool: reaching it means "passed validation"
EXPENSIVE = dict(train='build_runner', test='build_runner',
                 demo='build_inferencer', onnx='load_model',
                 sweep='evaluate_schedule', choose='evaluate_schedule')
COUNTS = Counter()


class Reached(Exception):
    """The tool got to its expensive step."""


def _reached(*args, **kwargs):
    raise Reached()


# --------------------------------------------------------------------- #
# Files on disk
def _seg_backbone_state():
    """Zero weights under the keys and shapes of SEG's backbone: a file the
    tools' checkpoint check accepts (the model's own keys), cheap to make."""
    from veca_mm.utils.core_budgets import meta_backbone
    from mmengine.config import Config
    bb = meta_backbone(Config.fromfile(SEG))
    return {'backbone.' + k: torch.zeros(v.shape, dtype=v.dtype)
            for k, v in bb.state_dict().items()}


def _write_files(tmp):
    f = {}
    f['dir'] = str(tmp / 'a_dir')
    os.makedirs(f['dir'])
    f['missing'] = str(tmp / 'no' / 'such.py')
    for name, text in (('text', 'not a config\n'), ('empty', ''),
                       ('syntax', 'model = dict(type=\n'),
                       ('nameerror', 'model = undefined_name\n'),
                       ('nomodel', 'x = 1\n'),
                       ('nonveca', "default_scope = 'mmseg'\nmodel = dict("
                        "type='EncoderDecoder', backbone=dict("
                        "type='ResNetV1c', depth=18))\n")):
        path = tmp / (name + ('.txt' if name == 'text' else '.py'))
        path.write_text(text)
        f[name] = str(path)
    f['file'] = f['text']
    f['under_file'] = osp.join(f['text'], 'sub')
    ckpt = tmp / 'tiny.pth'
    torch.save(dict(state_dict=_seg_backbone_state(), meta={}), ckpt)
    f['ckpt'] = str(ckpt)
    other = tmp / 'other_model.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(2)), meta={}), other)
    f['ckpt_other'] = str(other)
    (tmp / 'empty.pth').write_bytes(b'')
    f['ckpt_empty'] = str(tmp / 'empty.pth')
    (tmp / 'garbage.pth').write_bytes(bytes(range(256)) * 4)
    f['ckpt_garbage'] = str(tmp / 'garbage.pth')
    (tmp / 'truncated.pth').write_bytes(ckpt.read_bytes()[:200])
    f['ckpt_truncated'] = str(tmp / 'truncated.pth')
    with zipfile.ZipFile(tmp / 'other.zip', 'w') as z:
        z.writestr('readme.txt', 'a zip, not a checkpoint')
    f['ckpt_zip'] = str(tmp / 'other.zip')
    from PIL import Image
    imgs = tmp / 'imgs'
    imgs.mkdir()
    Image.new('RGB', (16, 16)).save(imgs / 'a.png')
    f['img'] = str(imgs / 'a.png')
    f['img_dir'] = str(imgs)
    (tmp / 'fake.jpg').write_bytes(b'not a jpeg')
    f['img_fake'] = str(tmp / 'fake.jpg')
    (tmp / 'noimgs').mkdir()
    f['img_none'] = str(tmp / 'noimgs')
    import json
    run = dict(metric='mIoU', rows=[dict(budgets=[8], mIoU=1.0),
                                    dict(budgets=[16], mIoU=2.0)])
    for name, data in (('run', run), ('run_norows', dict(metric='mIoU')),
                       ('run_list', [1, 2]),
                       ('run_badrows', dict(metric='mIoU', rows=[1, 'x'])),
                       ('run_nometric', dict(rows=run['rows'])),
                       ('run_other', dict(metric='AP', rows=run['rows']))):
        (tmp / f'{name}.json').write_text(json.dumps(data))
        f[name] = str(tmp / f'{name}.json')
    f['work'] = str(tmp / 'work' / 'new')
    # the mini config's (relative) data_root, from the working directory
    root = tmp / 'data/mini_ade20k/ADEChallengeData2016'
    for sub in ('images', 'annotations'):
        for split in ('training', 'validation'):
            (root / sub / split).mkdir(parents=True)
    return f


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    """The tools (expensive steps patched), the files, and the working
    directory set to a tmp dir holding the mini config's data layout.
    ``Config.fromfile`` of the repo's configs is memoised (a second each;
    they are not what is fuzzed here)."""
    from mmengine.config import Config
    tmp = tmp_path_factory.mktemp('fuzz_cli')
    files = _write_files(tmp)
    tools = {k: load_tool(v) for k, v in TOOLS.items()}
    cache = {}
    fromfile = Config.fromfile

    def cached_fromfile(filename, *args, **kwargs):
        key = osp.abspath(str(filename))
        if not key.startswith(str(REPO / 'configs')) or args or kwargs:
            return fromfile(filename, *args, **kwargs)
        if key not in cache:
            cache[key] = fromfile(filename)
        return copy.deepcopy(cache[key])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Config, 'fromfile', staticmethod(cached_fromfile))
        for k, mod in tools.items():
            mp.setattr(mod, EXPENSIVE[k], _reached)
        mp.setattr(tools['sweep'], 'plot_runs', _reached)
        mp.chdir(tmp)
        mp.setenv('LOCAL_RANK', '0')
        yield tools, files
    if COUNTS:
        import sys
        print('\nCLI fuzz cases: ' + ', '.join(
            f'{k}={v}' for k, v in sorted(COUNTS.items())),
            file=sys.__stderr__)


# --------------------------------------------------------------------- #
# The property
def run_main(mod, argv):
    """(outcome, stderr): ``'reached'``, the SystemExit code, or the
    exception that escaped."""
    err, out = io.StringIO(), io.StringIO()
    local_rank = os.environ.get('LOCAL_RANK')
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                mod.main(argv)
                outcome = 'returned'
            except Reached:
                outcome = 'reached'
            except SystemExit as e:
                outcome = e
    finally:
        if local_rank is not None:
            os.environ['LOCAL_RANK'] = local_rank
    return outcome, err.getvalue()


def check(tools, tool, pieces):
    """``pieces``: [(tokens, names)]; ``names`` is None for a valid piece,
    else what a refusal of it must mention."""
    argv = [t for tokens, _ in pieces for t in tokens]
    junk = [names for _, names in pieces if names is not None]
    outcome, err = run_main(tools[tool], argv)
    where = f'{tool} {argv}'
    assert 'Traceback' not in err, f'{where}: a traceback\n{err}'
    if outcome == 'reached':
        COUNTS[f'{tool}:valid'] += 1
        assert not junk, (f'{where}: junk {junk} was accepted (reached '
                          f'{EXPENSIVE[tool]})')
        return
    assert isinstance(outcome, SystemExit), f'{where}: {outcome!r}'
    code = outcome.code
    assert junk, f'{where}: an all-valid argument list was refused: {code!r}'
    COUNTS[f'{tool}:refused'] += 1
    if code == 2:  # argparse: usage + 'error: argument ...'
        assert 'error:' in err, f'{where}: exit 2 without an error\n{err}'
        return
    assert isinstance(code, str), f'{where}: exit {code!r}, no message'
    assert '\n' not in code, f'{where}: not one line: {code!r}'
    assert code.startswith(PREFIX[tool] + ': '), f'{where}: {code!r}'
    names = [n for ns in junk for n in ns]
    assert any(n in code for n in names), (
        f'{where}: {code!r} names none of {names}')


# --------------------------------------------------------------------- #
# Pieces: (tokens, None) valid, (tokens, names) junk
def piece(valid, junk):
    """One of ``valid`` (token lists) or ``junk`` ((tokens, names))."""
    return st.one_of(st.sampled_from([(list(v), None) for v in valid]),
                     st.sampled_from([(list(t), tuple(n)) for t, n in junk]))


def opt(option, valid, junk, optional=True):
    """``option VALUE`` pieces; ``valid``/``junk`` values (junk ones with
    extra names); absent when ``optional`` and drawn so."""
    parts = piece([[option, v] for v in valid],
                  [([option, v], (option, ) + tuple(n)) for v, n in junk])
    return st.one_of(st.just(([], None)), parts) if optional else parts


def config_piece(f, veca=True):
    junk = [([f['missing']], [f['missing']]), ([f['dir']], [f['dir']]),
            ([f['text']], [f['text']]), ([f['empty']], [f['empty']]),
            ([f['syntax']], [f['syntax']]),
            ([f['nameerror']], [f['nameerror']]),
            ([f['nomodel']], [f['nomodel']])]
    if veca:
        junk.append(([f['nonveca']], [f['nonveca'], 'VECA']))
    return piece([[SEG]], junk)


def ckpt_piece(f, what='checkpoint'):
    return piece([[f['ckpt']]], [([f[k]], [f[k], what]) for k in (
        'missing', 'dir', 'ckpt_empty', 'ckpt_garbage', 'ckpt_truncated',
        'ckpt_zip')])


BUDGET_JUNK = [0, -8, 12, 64, 2**100, 'x', '1.5', '8.0', '']


@st.composite
def budgets_piece(draw, option='--core-budgets', required=False):
    """``--core-budgets C ...``: valid when every C is a chunk multiple up
    to 32 and the count divides the 4 layers (duplicates and any order
    are fine)."""
    if not required and draw(st.booleans()):
        return [], None
    n = draw(st.sampled_from(STAGES) | st.integers(0, 6))
    values = draw(st.lists(st.sampled_from(BUDGETS) | st.sampled_from(
        BUDGET_JUNK), min_size=n, max_size=n))
    ok = n in STAGES and all(v in BUDGETS for v in values)
    return [option] + [str(v) for v in values], None if ok else (
        option, 'budget')


def cfg_options_piece(f):
    valid = [['randomness.seed=1'], ['env_cfg.cudnn_benchmark=False'],
             ['a=dict(']]  # an unknown key holding the string 'dict('
    junk = [(['novalue'], ['novalue']), (['a=(1,[2)'], ['a=(1,[2)']),
            (['a=[1,'], ['a=[1,']), (['=1'], ['=1']),
            (['a..b=1'], ['a..b']),
            (['model.backbone=[dict(),dict()]'], ['model.backbone']),
            (['model=1'], ['model']), (['model.type.x=1'], ['--cfg-options']),
            (['model.backbone=None'], ['model.backbone'])]
    return st.one_of(st.just(([], None)), piece(
        [['--cfg-options'] + v for v in valid],
        [(['--cfg-options'] + t, ['--cfg-options'] + n) for t, n in junk]))


def work_dir_piece(f, option='--work-dir'):
    return opt(option, [f['work']], [(f['file'], [f['file']]),
                                     (f['under_file'], [f['text']])])


def device_piece(f):
    valid = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    junk = [(v, ()) for v in ('gpu', 'cuda:x', 'cuda:-1', 'meta', '',
                              'cuda:99')
            if not (torch.cuda.is_available() and v == 'cuda')]
    if not torch.cuda.is_available():
        junk.append(('cuda', ()))
    return opt('--device', valid, junk)


FLOAT_JUNK = [('nan', ()), ('inf', ()), ('-inf', ()), ('x', ()), ('', ())]


# --------------------------------------------------------------------- #
# The tools
@examples(40)
@given(data=st.data())
def test_fuzz_train(env, data):
    tools, f = env
    pieces = [data.draw(config_piece(f, veca=False)),
              data.draw(opt('--resume', [f['ckpt']], [
                  (f[k], [f[k]]) for k in ('missing', 'dir', 'ckpt_empty',
                                           'ckpt_garbage', 'ckpt_zip')])),
              data.draw(work_dir_piece(f)), data.draw(cfg_options_piece(f)),
              data.draw(opt('--launcher', ['none'], [('slurm-ish', ())])),
              data.draw(opt('--local-rank', ['0'], [('-1', ()), ('x', ())]))]
    check(tools, 'train', pieces)


@examples(40)
@given(data=st.data())
def test_fuzz_test(env, data):
    tools, f = env
    pieces = [data.draw(config_piece(f)), data.draw(ckpt_piece(f)),
              data.draw(budgets_piece()), data.draw(work_dir_piece(f)),
              data.draw(opt('--wait-time', ['0', '2.5'], FLOAT_JUNK + [
                  ('-1', ())])),
              data.draw(opt('--dtype', ['fp32', 'bf16'], [('fp16', ())])),
              data.draw(opt('--out', [f['work']], [(f['file'], [f['file']])])),
              data.draw(work_dir_piece(f, '--show-dir')),
              data.draw(cfg_options_piece(f))]
    check(tools, 'test', pieces)


@examples(40)
@given(data=st.data())
def test_fuzz_image_demo(env, data):
    tools, f = env
    img = piece([[f['img']], [f['img_dir']]],
                [([f[k]], [f[k]]) for k in ('missing', 'img_fake',
                                            'img_none', 'text')])
    unit = [('0', ()), ('1', ()), ('0.5', ())]
    pieces = [data.draw(img), data.draw(config_piece(f)),
              data.draw(ckpt_piece(f)), data.draw(budgets_piece()),
              data.draw(work_dir_piece(f, '--out-dir')),
              data.draw(device_piece(f)),
              data.draw(opt('--opacity', [v for v, _ in unit], FLOAT_JUNK + [
                  ('1.5', ()), ('-0.1', ())])),
              data.draw(opt('--score-thr', [v for v, _ in unit],
                            FLOAT_JUNK + [('2', ())]))]
    check(tools, 'demo', pieces)


@st.composite
def shape_piece(draw, option):
    good = st.sampled_from([8, 32, 96, 8192])
    bad = st.sampled_from([0, -8, 95, 9000, 10**9, 'x', '8.0'])
    h, w = draw(st.one_of(good, bad)), draw(st.one_of(good, bad))
    ok = all(isinstance(v, int) and 0 < v <= 8192 and v % PATCH == 0
             for v in (h, w))
    return [option, str(h), str(w)], None if ok else (option, 'patch')


@examples(40)
@given(data=st.data())
def test_fuzz_pytorch2onnx(env, data):
    tools, f = env
    shape = data.draw(shape_piece('--shape'))
    pieces = [data.draw(config_piece(f)), data.draw(ckpt_piece(f)),
              data.draw(budgets_piece(required=True)), shape,
              data.draw(opt('--out', [osp.join(f['work'], 'm.onnx')], [
                  (f['dir'], [f['dir']]), (f['under_file'], [f['text']])],
                  optional=False))]
    dynamic = data.draw(st.booleans())
    if dynamic:
        pieces.append((['--dynamic'], None))
    if data.draw(st.booleans()):
        check_shape = data.draw(shape_piece('--check-shape'))
        if check_shape[1] is None and not dynamic and \
                check_shape[0][1:] != shape[0][1:]:
            check_shape = check_shape[0], ('--check-shape', '--dynamic')
        pieces.append(check_shape)
    pieces += [data.draw(opt('--atol', ['0', '1e-4'], FLOAT_JUNK + [
        ('-1', ())])),
               data.draw(opt('--opset', ['18'], [('0', ()), ('-1', ()),
                                                 ('10000', ()), ('x', ())])),
               data.draw(device_piece(f))]
    check(tools, 'onnx', pieces)


@st.composite
def stage_budgets_piece(draw):
    """``--stage-budgets S ...`` with S like ``32,8``; the schedules."""
    if draw(st.booleans()):
        return ([], None), []
    items = draw(st.lists(st.lists(
        st.sampled_from(BUDGETS) | st.sampled_from([0, 12, 'x', '']),
        min_size=1, max_size=5), min_size=0, max_size=3))
    texts = [','.join(map(str, s)) for s in items]
    ok = bool(items) and all(len(s) in STAGES and all(
        v in BUDGETS for v in s) for s in items)
    schedules = [tuple(s) for s in items] if ok else []
    return (['--stage-budgets'] + texts,
            None if ok else ('--stage-budgets', )), schedules


@examples(40)
@given(data=st.data())
def test_fuzz_budget_sweep(env, data):
    tools, f = env
    if data.draw(st.booleans()):  # --runs mode
        good = [f['run']]
        bad = [(f[k], [f[k]]) for k in ('missing', 'dir', 'text',
                                        'run_norows', 'run_list',
                                        'run_badrows', 'run_nometric',
                                        'run_other')]
        runs = data.draw(st.lists(piece([[g] for g in good], [
            ([p], n) for p, n in bad]), min_size=1, max_size=3))
        pieces = [(['--runs'], None)] + runs
        pieces.append(data.draw(work_dir_piece(f)))
        check(tools, 'sweep', pieces)
        return
    budgets = data.draw(budgets_piece('--budgets'))
    stage, schedules = data.draw(stage_budgets_piece())
    pieces = [data.draw(config_piece(f)), data.draw(ckpt_piece(f)), budgets,
              stage]
    if budgets[1] is None and stage[1] is None:
        # a schedule given twice on the command line (one of the default
        # budgets, when --budgets is not given, may be repeated)
        given = [(int(v), ) for v in budgets[0][1:]] + schedules
        if len(set(given)) < len(given):
            pieces.append(([], ('twice', )))
    pieces += [data.draw(opt('--repeats', ['1'], [('0', ()), ('-2', ()),
                                                   ('x', ())])),
               data.draw(work_dir_piece(f)), data.draw(cfg_options_piece(f))]
    check(tools, 'sweep', pieces)


@examples(40)
@given(data=st.data())
def test_fuzz_choose_budget(env, data):
    tools, f = env
    pieces = [data.draw(config_piece(f)), data.draw(ckpt_piece(f)),
              data.draw(opt('--latency-ms', ['5', '1e9', 'inf'], [
                  ('0', ()), ('-1', ()), ('nan', ()), ('x', ())],
                  optional=False)),
              data.draw(device_piece(f)),
              data.draw(opt('--max-images', ['1'], [('0', ()), ('x', ())])),
              data.draw(opt('--search', ['greedy', 'monotone'],
                            [('best', ())])),
              data.draw(opt('--repeats', ['1'], [('0', ())])),
              data.draw(work_dir_piece(f)), data.draw(cfg_options_piece(f))]
    check(tools, 'choose', pieces)


# --------------------------------------------------------------------- #
# The classes of failure found, one regular case each
@pytest.mark.parametrize('tool,argv,names', [
    # DictAction: 'key' without '=' was a ValueError traceback, unbalanced
    # brackets an AssertionError traceback
    ('train', ['{SEG}', '--cfg-options', 'novalue'], None),
    ('train', ['{SEG}', '--cfg-options', 'a=(1,[2)'], None),
    ('test', ['{SEG}', '{ckpt}', '--cfg-options', 'a..b=1'], None),
    # --cfg-options that break the config: AttributeError / TypeError deep
    # in the tools
    ('train', ['{SEG}', '--cfg-options', 'model.backbone=[dict(),dict()]'],
     ['model.backbone']),
    ('choose', ['{SEG}', '{ckpt}', '--latency-ms', '5', '--cfg-options',
                'model=1'], ['model']),
    ('sweep', ['{SEG}', '{ckpt}', '--cfg-options', 'model.type.x=1'],
     ['--cfg-options']),
    # configs that are not configs: OSError / SyntaxError / NameError /
    # AttributeError tracebacks from mmengine or the tools
    ('train', ['{text}'], ['{text}']),
    ('test', ['{syntax}', '{ckpt}'], ['{syntax}']),
    ('demo', ['{img}', '{nameerror}', '{ckpt}'], ['{nameerror}']),
    ('onnx', ['{empty}', '{ckpt}', '--core-budgets', '8', '--shape', '8',
              '8', '--out', 'm.onnx'], ['{empty}']),
    ('train', ['{dir}'], ['{dir}']),
    # checkpoints: a garbage or empty file, a directory or a missing path
    # got to the runner / inferencer (model built first)
    ('test', ['{SEG}', '{ckpt_garbage}'], ['{ckpt_garbage}']),
    ('test', ['{SEG}', '{dir}'], ['{dir}']),
    ('demo', ['{img}', '{SEG}', '{ckpt_empty}'], ['{ckpt_empty}']),
    ('onnx', ['{SEG}', '{missing}', '--core-budgets', '8', '--shape', '8',
              '8', '--out', 'm.onnx'], ['{missing}']),
    ('train', ['{SEG}', '--resume', '{ckpt_truncated}'], ['--resume']),
    ('choose', ['{SEG}', '{ckpt_zip}', '--latency-ms', '5'],
     ['{ckpt_zip}']),
    # a checkpoint of another model: image_demo and pytorch2onnx loaded it
    # with mmengine's missing-keys warning into a half-random model (exit
    # 0, predictions from random weights); onnx failed with 'meta'
    ('demo', ['{img}', '{SEG}', '{ckpt_other}'], ['{ckpt_other}']),
    ('onnx', ['{SEG}', '{ckpt_other}', '--core-budgets', '8', '--shape',
              '8', '8', '--out', 'm.onnx'], ['{ckpt_other}']),
    # NaN / inf accepted by type=float: --latency-ms nan chose nothing,
    # --atol nan failed after the export, --wait-time nan was kept
    ('choose', ['{SEG}', '{ckpt}', '--latency-ms', 'nan'], None),
    ('onnx', ['{SEG}', '{ckpt}', '--core-budgets', '8', '--shape', '8', '8',
              '--out', 'm.onnx', '--atol', 'nan'], None),
    ('test', ['{SEG}', '{ckpt}', '--wait-time', 'nan'], None),
    # --shape checked only after the model was built and the checkpoint
    # loaded; a huge one allocated it
    ('onnx', ['{SEG}', '{ckpt}', '--core-budgets', '8', '--shape', '96',
              '95', '--out', 'm.onnx'], ['--shape']),
    ('onnx', ['{SEG}', '{ckpt}', '--core-budgets', '8', '--shape', '8',
              '1000000000', '--out', 'm.onnx'], ['--shape']),
    ('onnx', ['{SEG}', '{ckpt}', '--core-budgets', '8', '--shape', '8', '8',
              '--check-shape', '16', '16', '--out', 'm.onnx'],
     ['--dynamic']),
    ('onnx', ['{SEG}', '{ckpt}', '--core-budgets', '8', '--shape', '8', '8',
              '--out', 'm.onnx', '--opset', '0'], None),
    # a directory where a file is written, a file where a folder is: the
    # error came after the work (or the model build)
    ('onnx', ['{SEG}', '{ckpt}', '--core-budgets', '8', '--shape', '8', '8',
              '--out', '{dir}'], ['{dir}']),
    ('demo', ['{img}', '{SEG}', '{ckpt}', '--out-dir', '{text}'],
     ['{text}']),
    ('test', ['{SEG}', '{ckpt}', '--out', '{text}'], ['{text}']),
    ('test', ['{SEG}', '{ckpt}', '--show-dir', '{under_file}'], ['{text}']),
    ('train', ['{SEG}', '--work-dir', '{text}'], ['{text}']),
    ('choose', ['{SEG}', '{ckpt}', '--latency-ms', '5', '--work-dir',
                '{text}'], ['{text}']),
    # devices: 'cuda:x' was int('x')'s ValueError, 'gpu' torch's
    # RuntimeError after the model was built
    ('choose', ['{SEG}', '{ckpt}', '--latency-ms', '5', '--device',
                'cuda:x'], ['--device']),
    ('demo', ['{img}', '{SEG}', '{ckpt}', '--device', 'gpu'], ['--device']),
    # images that are not images: failed in the loop, after the model build
    ('demo', ['{img_fake}', '{SEG}', '{ckpt}'], ['{img_fake}']),
    ('demo', ['{img_none}', '{SEG}', '{ckpt}'], ['{img_none}']),
    # budget_sweep: an empty --budgets silently meant "all budgets", a
    # schedule given twice was evaluated twice, --repeats 0 failed after
    # the first evaluation, a stage list that is not ints was a bare exit
    ('sweep', ['{SEG}', '{ckpt}', '--budgets'], None),
    ('sweep', ['{SEG}', '{ckpt}', '--budgets', '8', '--stage-budgets', '8'],
     ['twice']),
    ('sweep', ['{SEG}', '{ckpt}', '--stage-budgets', '8,8', '8,8'],
     ['twice']),
    ('sweep', ['{SEG}', '{ckpt}', '--repeats', '0'], None),
    ('sweep', ['{SEG}', '{ckpt}', '--stage-budgets', '8,,8'],
     ['--stage-budgets']),
    # --runs files that are not sweeps: JSONDecodeError / KeyError /
    # TypeError tracebacks not naming the file
    ('sweep', ['--runs', '{text}'], ['{text}']),
    ('sweep', ['--runs', '{run}', '{run_badrows}'], ['{run_badrows}']),
    ('sweep', ['--runs', '{run_list}'], ['{run_list}']),
    ('sweep', ['--runs', '{dir}'], ['{dir}']),
    # --core-budgets: a non-VECA config and a bad budget name the option
    ('test', ['{nonveca}', '{ckpt}', '--core-budgets', '8'], ['VECA']),
    ('demo', ['{img}', '{SEG}', '{ckpt}', '--core-budgets', '8', '8', '8'],
     ['--core-budgets']),
    ('test', ['{SEG}', '{ckpt}', '--core-budgets', '0'], None),
    ('onnx', ['{SEG}', '{ckpt}', '--core-budgets', str(2**100), '--shape',
              '8', '8', '--out', 'm.onnx'], ['--core-budgets']),
])
def test_found_failure_classes(env, tool, argv, names):
    """``names`` None: an argparse error (exit 2); else exit 1 with one
    line naming one of them."""
    tools, f = env
    subs = dict(f, SEG=SEG)
    argv = [a.format(**subs) for a in argv]
    outcome, err = run_main(tools[tool], argv)
    assert 'Traceback' not in err, err
    assert isinstance(outcome, SystemExit), (tool, argv, outcome)
    if names is None:
        assert outcome.code == 2 and 'error:' in err, (outcome.code, err)
        return
    code = outcome.code
    assert isinstance(code, str) and '\n' not in code, code
    assert code.startswith(PREFIX[tool] + ': '), code
    names = [n.format(**subs) for n in names]
    assert any(n in code for n in names), (code, names)


def test_all_valid_reaches_the_expensive_step(env):
    """The other side of the property: valid argument lists are not
    refused (each tool's expensive step is reached)."""
    tools, f = env
    cases = dict(
        train=[SEG, '--work-dir', f['work']],
        test=[SEG, f['ckpt'], '--core-budgets', '24', '8'],
        demo=[f['img_dir'], SEG, f['ckpt'], '--core-budgets', '16'],
        onnx=[SEG, f['ckpt'], '--core-budgets', '8', '--shape', '32', '64',
              '--dynamic', '--check-shape', '8', '16', '--out',
              osp.join(f['work'], 'm.onnx')],
        sweep=[SEG, f['ckpt'], '--budgets', '8', '24', '--stage-budgets',
               '32,8', '8,8,16,32', '--work-dir', f['work']],
        # a default budget (8) also given as a schedule: evaluated once
        sweep_default=[SEG, f['ckpt'], '--stage-budgets', '8', '32,8'],
        choose=[SEG, f['ckpt'], '--latency-ms', '30', '--work-dir',
                f['work']])
    for case, argv in cases.items():
        tool = case.split('_')[0]
        outcome, err = run_main(tools[tool], argv)
        assert outcome == 'reached', (tool, outcome, err[-2000:])


def test_internal_errors_keep_their_traceback(env, monkeypatch):
    """Only bad input becomes a one-line exit: an AttributeError (a bug)
    raised during the checks still escapes as itself."""
    tools, f = env

    def bug(*args, **kwargs):
        raise AttributeError('a bug, not bad input')

    monkeypatch.setattr(tools['test'], 'check_dataset_paths', bug)
    with pytest.raises(AttributeError, match='a bug'):
        tools['test'].main([SEG, f['ckpt']])


def test_refusal_is_still_the_old_exception_class(env):
    """A refusal is a SystemExit and, for in-process callers written
    against the old behaviour, still a ValueError / RuntimeError."""
    tools, f = env
    with pytest.raises(ValueError, match='core budget 12'):
        tools['sweep'].main([SEG, f['ckpt'], '--budgets', '12'])
    with pytest.raises(RuntimeError, match='auto_scale_lr'):
        tools['train'].main([SEG, '--auto-scale-lr'])
