# Copyright (c) veca_mm contributors. Apache-2.0.
"""A training sample that cannot be loaded stops the run by name, or is
skipped and counted.

Without this, one unreadable image or annotation hours into a run raises
from mmcv's loader with no file name and kills training. mmengine's
``BaseDataset.__getitem__`` does retry (``max_refetch``), but only when the
pipeline *returns None* (e.g. ``LoadImageFromFile(ignore_empty=True)`` for a
missing file), with a random other index, up to 1000 times and without a
word in the log; an exception (a truncated JPEG, an empty label PNG) is not
caught. :class:`BadSampleGuard` wraps the training set instead:

* default: the first sample that raises stops training with a
  :class:`BadSampleError` naming its index and files, the last checkpoint
  (untouched: no save is in progress while data loads) and how to resume;
* ``skip_bad_samples=dict(max=N)``: a bad sample is replaced by the next
  index that loads; each bad sample is logged (its first time) with the
  count of distinct bad samples so far (shared by all dataloader workers),
  and the ``N + 1``-th distinct bad sample stops training. The count is per
  run: a resumed run counts again from zero.

``tools/train.py`` wraps every config's ``train_dataloader.dataset`` (see
``veca_mm.engine.hooks.defaults``) and reads the config's top-level
``skip_bad_samples``. Elsewhere, wrap it in the config yourself::

    train_dataloader = dict(dataset=dict(
        type='BadSampleGuard', skip_bad_samples=dict(max=10),
        dataset=dict(type='ADE20KDataset', ...)))
"""
import copy
import logging
import multiprocessing
import os.path as osp
from typing import Optional, Union

from mmengine.logging import print_log
from mmengine.registry import DATASETS

__all__ = ['BadSampleError', 'BadSampleGuard', 'check_skip_bad_samples']


class BadSampleError(RuntimeError):
    """A training sample could not be loaded (and is not to be skipped)."""


def check_skip_bad_samples(value) -> Optional[int]:
    """The skip limit of a ``skip_bad_samples`` setting (None: stop)."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {'max'} or isinstance(
            value['max'], bool) or not isinstance(value['max'], int) or \
            value['max'] < 0:
        raise ValueError(
            f'skip_bad_samples={value!r}: use None (stop at the first '
            'unreadable training sample, the default) or dict(max=N) with '
            'an int N >= 0 (skip up to N of them, each logged).')
    return value['max']


def _describe(dataset, idx: int) -> str:
    """The files of sample ``idx``, as its data info names them."""
    try:
        info = dataset.get_data_info(idx)
    except Exception:  # noqa: BLE001 (the message must still be raised)
        return 'files unknown'
    paths = [f'{k}={v}' for k, v in sorted(info.items())
             if k.endswith('_path') and isinstance(v, str)]
    return ', '.join(paths) or 'no file path in its data info'


@DATASETS.register_module()
class BadSampleGuard:
    """Names or skips (opt-in, counted) training samples that fail to load.

    Args:
        dataset (dict | Dataset): the training set, or its config.
        skip_bad_samples (dict, optional): None stops at the first bad
            sample; ``dict(max=N)`` skips up to ``N`` distinct bad samples
            in this run (over all dataloader workers) and stops at the next
            one. Defaults to None.
        work_dir (str, optional): the run's work dir; the stop message names
            its ``last_checkpoint``. Defaults to None.
        lazy_init (bool): leave the wrapped set's ``full_init`` to the
            runner (as mmengine's dataset wrappers). Defaults to False.
    """

    def __init__(self,
                 dataset: Union[dict, object],
                 skip_bad_samples: Optional[dict] = None,
                 work_dir: Optional[str] = None,
                 lazy_init: bool = False):
        self.max_skips = check_skip_bad_samples(skip_bad_samples)
        self.dataset = DATASETS.build(copy.deepcopy(dataset)) if isinstance(
            dataset, dict) else dataset
        self.work_dir = work_dir
        self._bad = None  # one flag per sample, see full_init
        if not lazy_init:
            self.full_init()
        mode = ('stops at the first one' if self.max_skips is None else
                f'skips up to {self.max_skips}, each logged')
        print_log(f'veca_mm safety: BadSampleGuard wraps the training set '
                  f'({type(self.dataset).__name__}); an unreadable sample '
                  f'is named and {mode} (skip_bad_samples)',
                  logger='current')

    # What runners, samplers and visualizers read of a dataset.
    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        if self._bad is None:
            # shared memory: the dataloader workers (forked or spawned after
            # the runner's full_init) flag bad samples in the same array
            self._bad = multiprocessing.Array('b', len(self.dataset))

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name):
        # everything else (cat_ids, ...) from the wrapped set; never during
        # unpickling, before ``dataset`` exists
        inner = self.__dict__.get('dataset')
        if inner is None or name.startswith('__'):
            raise AttributeError(name)
        return getattr(inner, name)

    @property
    def skipped(self) -> int:
        """Distinct bad samples met so far in this run."""
        return 0 if self._bad is None else sum(self._bad[:])

    def __getitem__(self, idx: int):
        try:
            return self.dataset[idx]
        except Exception as e:  # noqa: BLE001 (named below, never hidden)
            bad, error = idx, e
        n = len(self.dataset)
        for step in range(1, n + 1):
            what = (f'training sample {bad} ({_describe(self.dataset, bad)})'
                    f' cannot be loaded: {type(error).__name__}: {error}')
            count, new = self._flag(bad)
            if count is None or count > self.max_skips:
                raise BadSampleError(self._stop_message(what, count)) \
                    from error
            if new:
                print_log(f'BadSampleGuard: skipping {what} [{count}/'
                          f'{self.max_skips} skip_bad_samples used]',
                          logger='current', level=logging.WARNING)
            try:
                return self.dataset[(idx + step) % n]
            except Exception as e:  # noqa: BLE001
                bad, error = (idx + step) % n, e
        raise BadSampleError(f'none of the {n} training samples can be '
                             'loaded')

    def _flag(self, idx: int):
        """(distinct bad samples so far, whether ``idx`` is new), or
        (None, True) when nothing is to be skipped."""
        if self.max_skips is None:
            return None, True
        if self._bad is None:
            self.full_init()
        with self._bad.get_lock():
            new = not self._bad[idx]
            self._bad[idx] = 1
            return sum(self._bad[:]), new

    def _stop_message(self, what: str, count: Optional[int]) -> str:
        last = None
        if self.work_dir and osp.isfile(osp.join(self.work_dir,
                                                  'last_checkpoint')):
            with open(osp.join(self.work_dir, 'last_checkpoint')) as f:
                last = f.read().strip() or None
        kept = (f'the last checkpoint, {last}, is intact' if last else
                'no checkpoint had been written yet')
        limit = '' if count is None else (
            f' This is bad sample {count}, past skip_bad_samples.max='
            f'{self.max_skips}.')
        return (
            f'{what}.{limit} Training stopped; {kept}. Fix or replace the '
            'file (or remove the sample from the annotation file), then '
            'resume with `python tools/train.py CONFIG --resume` (the latest '
            'checkpoint of the work dir); or set skip_bad_samples=dict('
            'max=N) in the config (--cfg-options skip_bad_samples.max=N) to '
            'skip up to N unreadable samples, each named in the log.')
