"""The backbone's linear layers are reachable: hooks and module replacement
(LoRA / adapters, quantisation wrappers) act on them (issue #28 item 2)."""
import ast
import inspect

import pytest
import torch
import torch.nn as nn

import veca_mm.models.backbones.veca as veca_module
from veca_mm.models.backbones import VECA

from .conftest import TINY_ARCH

LINEARS = ('attn.q_proj', 'attn.k_proj', 'attn.v_proj', 'attn.out_proj',
           'fc1', 'fc2')


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    m = VECA(arch=TINY_ARCH, core_budgets=8, out_indices=(1, 3))
    m.init_weights()
    return m.eval()


@pytest.fixture(scope='module')
def image():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 3, 48, 64, generator=g)


class AddConstant(nn.Module):
    """A wrapper in the style of an adapter: the wrapped layer plus c."""

    def __init__(self, inner: nn.Module, c: float):
        super().__init__()
        self.inner, self.c = inner, c

    def forward(self, x):
        return self.inner(x) + self.c


@pytest.mark.parametrize('dtype', [None, torch.bfloat16])
def test_forward_hooks_fire_on_every_linear(model, image, dtype):
    """One call per block and linear, with the layer's own input and
    output (autocast included: no cached weights bypass the modules)."""
    calls = []
    handles = []
    for i, block in enumerate(model.blocks):
        for name in LINEARS:
            layer = block.get_submodule(name)
            handles.append(layer.register_forward_hook(
                lambda m, args, out, key=(i, name): calls.append(
                    (key, args[0].shape[-1], out.shape[-1], out.dtype))))
    try:
        with torch.no_grad(), torch.autocast(
                'cpu', dtype=dtype or torch.bfloat16, enabled=bool(dtype)):
            model(image)
    finally:
        for h in handles:
            h.remove()
    assert sorted(c[0] for c in calls) == sorted(
        (i, n) for i in range(len(model.blocks)) for n in LINEARS)
    want = dtype or torch.float32
    assert all(c[3] == want for c in calls), calls
    widths = {c[0][1]: c[1:3] for c in calls}
    D, hidden = TINY_ARCH['embed_dims'], int(32 * TINY_ARCH['mlp_ratio'])
    assert widths['attn.q_proj'] == (D, D)
    assert widths['fc1'] == (D, 2 * hidden)
    assert widths['fc2'] == (hidden, D)


def test_hook_on_q_changes_what_the_forward_computes(model, image):
    """A hook that returns a new output is used by the attention."""
    with torch.no_grad():
        ref = model(image)
    handle = model.blocks[2].attn.q_proj.register_forward_hook(
        lambda m, args, out: out * 2)
    try:
        with torch.no_grad():
            out = model(image)
    finally:
        handle.remove()
    torch.testing.assert_close(out[0], ref[0])  # layer 1's own output ...
    assert not torch.allclose(out[1], ref[1])  # ... but not layer 3's


@pytest.mark.parametrize('dtype', [None, torch.bfloat16])
@pytest.mark.parametrize('name', ['fc1', 'attn.v_proj'])
def test_replacing_a_linear_changes_the_output(model, image, name, dtype):
    block = model.blocks[2]
    parent_name, _, child = ('.' + name).rpartition('.')
    parent = block.get_submodule(parent_name.lstrip('.'))
    original = getattr(parent, child)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16,
                                         enabled=bool(dtype)):
        ref = model(image)[1].float()
        setattr(parent, child, AddConstant(original, 0.5))
        try:
            changed = model(image)[1].float()
            setattr(parent, child, AddConstant(original, 0.))
            same = model(image)[1].float()
        finally:
            setattr(parent, child, original)
    assert (changed - ref).abs().max() > 1e-2
    torch.testing.assert_close(same, ref, rtol=0, atol=0)


def test_no_private_torch_attribute_in_the_hot_path():
    """The forward reads no private attribute of a tensor, module or torch
    itself (such as ``Tensor._version``): only its own (``self._x``)."""
    tree = ast.parse(inspect.getsource(veca_module))
    private = [
        (node.lineno, ast.unparse(node)) for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith('_')
        and not node.attr.startswith('__')
        and not (isinstance(node.value, ast.Name)
                 and node.value.id in ('self', 'cls'))
    ]
    assert not private, private


def test_cast_weights_is_autocast_with_the_cast_done_once(model, image):
    """``VECA.cast_weights`` gives exactly the autocast result, keeps hooks
    firing, and caches nothing outside its block: a weight edited through
    ``.data`` (as peft merges LoRA; no version counter sees it) is used
    by the next forward."""
    amp = torch.autocast('cpu', dtype=torch.bfloat16)
    with torch.no_grad(), amp:
        want = model(image)
    fired = []
    h = model.blocks[0].fc1.register_forward_hook(
        lambda *a: fired.append(1))
    try:
        with torch.no_grad(), model.cast_weights(torch.bfloat16):
            assert model.blocks[0].fc1.cast is not None
            with amp:
                got = model(image)
            with amp:  # a second forward reuses the cast
                again = model(image)
    finally:
        h.remove()
    assert fired == [1, 1]
    for a, b, c in zip(want, got, again):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert all(m.cast is None for m in model.modules()
               if hasattr(m, 'cast'))
    w = model.blocks[0].fc2.weight
    saved = w.detach().clone()
    try:
        w.data.mul_(3)
        with torch.no_grad(), amp:
            edited = model(image)
        assert not torch.equal(edited[-1], want[-1])
    finally:
        w.data.copy_(saved)


def test_cast_weights_stays_out_of_training(model, image):
    """With gradients on, the layers use their fp32 parameters (the
    gradient reaches them) even inside ``cast_weights``."""
    with model.cast_weights(torch.bfloat16), \
            torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(image)
        out[-1].float().mean().backward()
    grad = model.blocks[0].fc1.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
