"""A one-file picture of segmentation results: image | ground truth | preds."""
from typing import Dict, List, Sequence

import numpy as np


def colorize_labels(labels: np.ndarray, palette: Sequence[Sequence[int]],
                    ignore_index: int = 255) -> np.ndarray:
    """HxW class ids -> HxWx3 uint8 RGB; ignored pixels are black."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    pal[:len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    out = pal[np.clip(labels, 0, 255).astype(np.int64)]
    out[labels == ignore_index] = 0
    return out


def save_seg_grid(path: str, rows: List[Dict[str, np.ndarray]],
                  columns: Sequence[str], palette, ignore_index=255,
                  pad: int = 4) -> None:
    """Save one PNG with a row per image and a column per entry of `rows`.

    ``rows[i]['image']`` is an HxWx3 RGB uint8 image; every other column is an
    HxW label map (coloured with ``palette``) of the same size.
    """
    import cv2

    tiles = []
    for row in rows:
        cells = []
        for name in columns:
            cell = row[name]
            if cell.ndim == 2:
                cell = colorize_labels(cell, palette, ignore_index)
            cells.append(cell)
            cells.append(np.full((cell.shape[0], pad, 3), 255, np.uint8))
        tiles.append(np.concatenate(cells[:-1], axis=1))
    width = max(t.shape[1] for t in tiles)
    tiles = [
        np.pad(t, ((0, pad), (0, width - t.shape[1]), (0, 0)),
               constant_values=255) for t in tiles
    ]
    header = np.full((18, width, 3), 255, np.uint8)
    x = 2
    for name in columns:
        cv2.putText(header, name, (x, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
        x += rows[0][name].shape[1] + pad
    grid = np.concatenate([header] + tiles, axis=0)
    if not cv2.imwrite(path, grid[..., ::-1]):
        raise OSError(f'could not write {path}')
