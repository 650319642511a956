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
