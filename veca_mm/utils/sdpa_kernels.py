# Copyright (c) veca_mm contributors. Apache-2.0.
"""Which kernel each ``scaled_dot_product_attention`` call ran.

``F.scaled_dot_product_attention`` picks flash, memory-efficient, cuDNN or
the slow math path at run time (dtype, head size, strides, masks, device);
nothing says which. The profiler's record of the call's child op does:
``aten::_scaled_dot_product_flash_attention`` and so on. With the shapes
recorded too, a call is attributed by its query and key lengths, which is
how VECA's two calls per layer are told apart (cores -> all tokens: ``C``
queries, ``C + N`` keys; patches -> cores: ``N`` queries, ``C`` keys).
"""
from typing import Callable, List

__all__ = ['KERNELS', 'sdpa_calls', 'veca_call_kind']

# child-op name fragment -> kernel, checked in this order
KERNELS = (('flash_attention_for_cpu', 'cpu'),
           ('flash_attention', 'flash'),
           ('efficient_attention', 'memory-efficient'),
           ('cudnn_attention', 'cudnn'),
           ('attention_math', 'math'),
           ('fused_attention_overrideable', 'overrideable'))


def _kernel(event) -> str:
    names, stack = [], list(event.cpu_children)
    while stack:
        child = stack.pop()
        names.append(child.name)
        stack.extend(child.cpu_children)
    text = ' '.join(names)
    for fragment, kernel in KERNELS:
        if fragment in text:
            return kernel
    # no fused child: the composite ran its math decomposition inline
    return 'math'


def sdpa_calls(fn: Callable[[], object]) -> List[dict]:
    """Run ``fn()`` once under the profiler; every SDPA call in call order
    as ``dict(q_len, kv_len, kernel)`` (kernel: ``flash``,
    ``memory-efficient``, ``cudnn``, ``math``, or ``cpu`` for the CPU's
    fused kernel)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        fn()
    calls = sorted((e for e in p.events()
                    if e.name == 'aten::scaled_dot_product_attention'),
                   key=lambda e: e.time_range.start)
    out = []
    for e in calls:
        q, k = e.input_shapes[0], e.input_shapes[1]
        out.append(dict(q_len=q[-2] if q else None,
                        kv_len=k[-2] if k else None, kernel=_kernel(e)))
    return out


def veca_call_kind(call: dict, num_cores: int) -> str:
    """``'patches->cores'`` (the keys are the ``C`` cores), else
    ``'cores->all'`` (``C`` queries over every token)."""
    if call['kv_len'] == num_cores:
        return 'patches->cores'
    if call['q_len'] == num_cores:
        return 'cores->all'
    raise ValueError(f'an SDPA call with {call["q_len"]} queries and '
                     f'{call["kv_len"]} keys is neither of VECA\'s with '
                     f'{num_cores} cores')
