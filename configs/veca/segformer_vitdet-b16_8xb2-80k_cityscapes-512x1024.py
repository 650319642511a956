# Anchor for segformer_veca-b_8xb2-80k_cityscapes-512x1024.py: the same neck
# and SegFormer head on a ViTDet-style windowed ViT-B/16 (14x14 windows,
# global attention in blocks 2, 5, 8, 11, decomposed relative positions):
# timm's SAM image encoder samvit_base_patch16 through mmseg's TIMMBackbone,
# built at the test size, returning the stride-16 maps of layers 3, 5, 7, 11
# (features_only drops SAM's 256-channel neck and final norm). Used by
# tools/analysis_tools/benchmark_model.py. pretrained=False here: for a real
# run set pretrained=True (timm downloads SAM's weights).
# (its optimizer: segformer_vit-b16_8xb2-80k_cityscapes-512x1024.py's)
_base_ = ['./segformer_vit-b16_8xb2-80k_cityscapes-512x1024.py']
# the ViT anchor's TIMMBackbone with SAM's encoder in place of the ViT
model = dict(backbone=dict(
    {k: v
     for k, v in _base_.model.backbone.items() if k != 'dynamic_img_size'},
    _delete_=True, model_name='samvit_base_patch16', img_size=(1024, 2048),
    neck_chans=0))
