from .seg_grid import colorize_labels, save_seg_grid

__all__ = ['colorize_labels', 'save_seg_grid']
