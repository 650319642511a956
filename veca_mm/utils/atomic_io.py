# Copyright (c) veca_mm contributors. Apache-2.0.
"""Crash-safe local writes: a file is either the old one or the new one.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes in
place, so a process killed mid-save leaves a truncated checkpoint under the
final name. Here the bytes go to a hidden temporary file beside the target,
are fsync'ed, and ``os.replace`` swaps it in (atomic on POSIX and Windows).
"""
import glob
import os
import os.path as osp
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend

ATOMIC_BACKEND = 'veca_atomic_local'
_TMP_TAG = '.veca-tmp-'


def temp_path_for(path: str) -> str:
    head, tail = osp.split(path)
    return osp.join(head, f'.{tail}{_TMP_TAG}{os.getpid()}')


def _fsync_dir(path: str) -> None:
    # Makes the rename itself durable; not every OS/filesystem allows it.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, path: Union[str, os.PathLike]) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def stale_temp_files(folder: str) -> List[str]:
    """Temporary files that a killed save left behind in ``folder``."""
    return sorted(glob.glob(osp.join(glob.escape(folder), f'.*{_TMP_TAG}*')))


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put``/``put_text``."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend)
