"""A plain-PyTorch port of the original's Codec Avatar body decoder (`visualize/ca_body` of
facebookresearch/audio2photoreal): it reads the files the original's users download
(`checkpoints/ca_body/data/<person>/{body_dec.ckpt, config.yml, static_assets.pt}`) and renders the decoded,
textured mesh with a small torch rasteriser instead of pytorch3d, on the CPU or a GPU.

One idea per file: quaternion.py (xyzw rotations), skinning.py (parameter transform, skeleton, linear blend
skinning), layers.py (weight-normalised convolutions and their blocks), uv.py (UV maps of per-vertex values),
seams.py (UV seam fixing), body_networks.py / face_networks.py / texture_networks.py (the decoder's networks),
autoencoder.py (the decoder put together), assets.py (reading the files strictly), rasterizer.py (camera
rasterisation and texturing), display.py (linear to display colours), photoreal.py (frames from codes).
"""
