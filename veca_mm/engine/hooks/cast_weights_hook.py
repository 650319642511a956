# Copyright (c) veca_mm contributors. Apache-2.0.
"""Low-precision test runs with VECA's linear weights cast once.

Under autocast every ``nn.Linear`` casts its fp32 weight to bf16 in every
forward (about 5 % of a VECA-B forward at 512 px on a CPU).
``VECA.cast_weights`` casts them once for a block in which the weights do
not change; a test epoch is such a block, and the checkpoint is loaded
before it starts (``Runner.test`` loads, then runs the loop), so this hook
opens the scope at ``before_test_epoch`` and closes it at
``after_test_epoch``. ``tools/test.py --dtype bf16`` adds it.
"""
import contextlib

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from veca_mm.utils.bench import DTYPES, cast_weights


@HOOKS.register_module()
class CastWeightsHook(Hook):
    """Cast every VECA's linear weights to ``dtype`` for each test epoch.

    Args:
        dtype (str): ``'bf16'`` or ``'fp16'``, the autocast dtype of the
            test loop. Defaults to 'bf16'.
    """

    priority = 'LOW'

    def __init__(self, dtype: str = 'bf16'):
        if dtype not in DTYPES or dtype == 'fp32':
            raise ValueError(
                f'CastWeightsHook: dtype={dtype!r}; want one of '
                f'{sorted(k for k in DTYPES if k != "fp32")} (fp32 has '
                'nothing to cast: leave the hook out).')
        self.dtype = dtype
        self._scope = None

    def before_test_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._scope = contextlib.ExitStack()
        self._scope.enter_context(cast_weights(model, self.dtype))

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._scope is not None:
            self._scope.close()
            self._scope = None
