# The Mask2Former head of the two mini Mask2Former configs, as named
# variables (no `model`): 32 channels, 16 queries, a one-layer deformable
# pixel decoder and a three-layer query decoder. Listed after the headline
# config among a mini config's bases; it writes e.g.
# `decode_head=dict(_base_.mini_mask2former_head, ...)`.
channels = 32
num_queries = 16
mini_mask2former_head = dict(
    in_channels=[channels] * 4,
    feat_channels=channels,
    out_channels=channels,
    num_queries=num_queries,
    pixel_decoder=dict(
        norm_cfg=dict(type='GN', num_groups=8),
        encoder=dict(
            num_layers=1,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=channels, num_heads=4,
                                   num_points=2),
                ffn_cfg=dict(embed_dims=channels,
                             feedforward_channels=2 * channels))),
        positional_encoding=dict(num_feats=channels // 2)),
    positional_encoding=dict(num_feats=channels // 2),
    transformer_decoder=dict(
        num_layers=3,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=channels, num_heads=4),
            cross_attn_cfg=dict(embed_dims=channels, num_heads=4),
            ffn_cfg=dict(embed_dims=channels,
                         feedforward_channels=2 * channels))))
# AdamW at 1e-3 with a milder layer decay over the tiny VECA's 4 layers
mini_mask2former_optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.9),
    clip_grad=dict(max_norm=1.0))
