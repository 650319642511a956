# Anchor for segformer_veca-b_8xb2-80k_cityscapes-512x1024.py: the same neck
# and SegFormer head on a dense (global-attention) ViT-B/16, timm's
# vit_base_patch16_224 through mmseg's TIMMBackbone, returning the stride-16
# maps of the same layers as VECA-B (3, 5, 7, 11; timm's features_only drops
# the final LayerNorm, one LayerNorm per map less than VECA). Used by
# tools/analysis_tools/benchmark_model.py. pretrained=False here: for a real
# run set pretrained=True (timm downloads the ImageNet weights).
_base_ = ['./segformer_veca-b_8xb2-80k_cityscapes-512x1024.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='TIMMBackbone',
        model_name='vit_base_patch16_224',
        features_only=True,
        pretrained=False,
        out_indices=(3, 5, 7, 11),
        dynamic_img_size=True))
# VECA's layer-decay constructor knows VECA's parameter names only.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
