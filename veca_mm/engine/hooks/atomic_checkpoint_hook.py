# Copyright (c) veca_mm contributors. Apache-2.0.
"""``CheckpointHook`` whose saves cannot destroy the previous checkpoint.

mmengine 0.10's hook has two windows in which a crash (SIGKILL, OOM killer,
full disk, pre-empted node) loses training state:

1. the checkpoint is written in place, so a kill mid-write leaves a
   truncated ``iter_N.pth`` that ``--resume`` then fails on;
2. with ``max_keep_ckpts`` (and for ``save_best``) the old file is deleted
   *before* the new one is written, so with ``max_keep_ckpts=1`` a kill
   during the save leaves no checkpoint at all.

This subclass takes the same arguments. Checkpoints and ``last_checkpoint``
go through :class:`~veca_mm.utils.atomic_io.AtomicLocalBackend` (temporary
file + fsync + rename) and outdated files are removed only after the new one
is in place. Remote ``out_dir`` URIs keep the backend mmengine picks.

It re-implements mmengine's private ``_save_checkpoint_with_step`` and wraps
``_save_best_checkpoint``, so it is tied to the mmengine versions in
:data:`TESTED_MMENGINE`: on any other version building the hook raises at
the start of the run, before anything is trained.
"""
import os
import os.path as osp

import mmengine
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from veca_mm.utils.atomic_io import (ATOMIC_BACKEND, atomic_write_bytes,
                                     stale_temp_files)


class _DeferredRemoval:
    """Proxy of a file backend that queues ``remove``/``rmtree`` calls."""

    def __init__(self, backend):
        self._backend = backend
        self.queued = []

    def remove(self, path):
        self.queued.append(('remove', path))

    def rmtree(self, path):
        self.queued.append(('rmtree', path))

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def flush(self):
        for op, path in self.queued:
            getattr(self._backend, op)(path)
        self.queued.clear()


# The mmengine versions whose private CheckpointHook methods this hook was
# written against and tested with.
TESTED_MMENGINE = ('0.10.7', )


def check_mmengine_version(version: str = None) -> None:
    """Raise unless ``version`` (default: the installed mmengine) is one
    :class:`AtomicCheckpointHook` was written for."""
    version = mmengine.__version__ if version is None else version
    if version not in TESTED_MMENGINE:
        raise RuntimeError(
            f'AtomicCheckpointHook re-implements private methods of '
            f'mmengine {", ".join(TESTED_MMENGINE)}\'s CheckpointHook '
            f'(_save_checkpoint_with_step, _save_best_checkpoint), but '
            f'mmengine {version} is installed. Install mmengine=='
            f'{TESTED_MMENGINE[-1]} (requirements/constraints.txt), or use '
            "mmengine's own hook: default_hooks.checkpoint.type="
            "'CheckpointHook' (its saves are not atomic).")


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with atomic saves (see the module).

    Checkpoints into a local ``out_dir`` are written to a temporary file,
    fsynced and renamed into place, and outdated ones are removed only after
    the new one is on disk; a remote ``out_dir`` or explicit
    ``backend_args`` keep mmengine's behaviour (with a warning).

    Args:
        *args: Positional arguments of mmengine's ``CheckpointHook``
            (``interval``, ``by_epoch``, ...).
        **kwargs: Keyword arguments of mmengine's ``CheckpointHook``
            (``max_keep_ckpts``, ``save_best``, ``out_dir``, ...); their
            defaults are mmengine's.

    Raises:
        RuntimeError: On building, when the installed mmengine is not one
            of :data:`TESTED_MMENGINE`.
    """

    def __init__(self, *args, **kwargs):
        check_mmengine_version()
        super().__init__(*args, **kwargs)
        self.atomic = None  # decided once, at the first before_train

    def before_train(self, runner) -> None:
        if self.atomic is None:
            # Once only: a second before_train (runner.train() called again)
            # would otherwise see our own backend_args and switch atomic
            # writes off.
            out_dir = self.out_dir if self.out_dir is not None else \
                runner.work_dir
            # a local folder: no URI prefix (``s3://``, ``http://`` ...)
            self.atomic = (self.backend_args is None
                           and self.file_client_args is None
                           and '://' not in str(out_dir))
            if self.atomic:
                self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
        if not self.atomic:
            runner.logger.warning(
                f'AtomicCheckpointHook: {out_dir} is not a local folder (or '
                'backend_args were given); checkpoints are written by that '
                'backend, not atomically.')
            return
        if is_main_process():
            for path in stale_temp_files(self.out_dir):
                runner.logger.warning(
                    f'Removing {path}: a partial checkpoint left by a save '
                    'that was interrupted. The checkpoints themselves are '
                    'intact.')
                os.remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        # Same bookkeeping as mmengine's, but the outdated checkpoint is
        # removed after the new one is safely on disk, not before.
        outdated = None
        keep = self.max_keep_ckpts > 0 and not (
            len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step)
        if keep:
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return

        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        if self.atomic:
            atomic_write_bytes(self.last_ckpt.encode(), pointer)
        else:
            with open(pointer, 'w') as f:
                f.write(self.last_ckpt)

        if outdated is not None and outdated != step:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed saves folders
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # mmengine deletes the previous best before writing the new one;
        # queue those deletions until the new best exists.
        backend = self.file_backend
        deferred = _DeferredRemoval(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        deferred.flush()
