from .optimizers import (VECALayerDecayOptimizerConstructor,
                         get_layer_id_for_veca)

__all__ = ['VECALayerDecayOptimizerConstructor', 'get_layer_id_for_veca']
