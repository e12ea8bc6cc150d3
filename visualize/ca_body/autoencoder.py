"""The original's body decoder put together (`AutoEncoder` of `models/mesh_vae_drivable.py`, inference
only, as its BodyRenderer runs it: colour calibration, pixel calibration and learnable blur off).

    decoder = BodyDecoder.from_files(read_person("checkpoints/ca_body/data/PXB184"))
    shared = decoder.decode_shared(motion, face_codes)             # once per frame
    tex = decoder.decode_texture(shared, campos, ao)               # per camera: (C, 3, 2048, 2048)

Loading is strict: every checkpoint key must belong to the networks (shapes equal), or be one the original
also ignores at render time, checked by shape: `lbs_fn.*` (the skinning comes from static_assets, as in the
original), `meye_mask`, and the training-only `cal.*`, `pixel_cal.*`, `learn_blur.*`, `renderer.image_size`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visualize.ca_body.assets import PersonFiles
from visualize.ca_body.body_networks import ConvDecoder, Encoder
from visualize.ca_body.face_networks import FaceDecoderFrontal, FaceEncoder
from visualize.ca_body.seams import SeamSampler
from visualize.ca_body.skinning import MAX_JOINTS_PER_VERTEX, LinearBlendSkinning
from visualize.ca_body.texture_networks import ShadowUNet, UNetViewDecoder, UpscaleNet
from visualize.ca_body.uv import GeometryModule

UV_SIZE, TEX_SIZE = 1024, 2048
DEFAULT_TEX_STD = 64.0
FACE_CODE, FACE_VALUES = 256, 7306 * 3  # the original's defaults: face code size, face mesh coordinates
CALIBRATION_PARAMETERS = 6  # per camera, the original's CalV5 (gain and bias per colour)


def ignored_key_shapes(files: PersonFiles, lbs: LinearBlendSkinning) -> dict[str, tuple[int, ...]]:
    """key -> shape of the checkpoint keys the renderer does not load (module docstring)."""
    skinned = files.assets["lbs_model_json"]["SkinnedModel"]
    n_vertices, n_joints = lbs.template.shape[0], lbs.joint_offsets.shape[0]
    n_faces = len(skinned["Faces"]["Indices"]) // 3
    inner = {"mesh_vertices": (n_vertices, 3), "joint_parents": (n_joints, 1), "joint_rotation": (n_joints, 4),
             "joint_offset": (n_joints, 3), "mesh_normals": (n_vertices, 3), "mesh_faces": (n_faces, 3),
             "mesh_texture_faces": (n_faces, 3),
             "mesh_texture_coords": (len(skinned["TextureCoordinates"]) // 2, 2),
             "skin_weights": (n_vertices, MAX_JOINTS_PER_VERTEX), "skin_indices": (n_vertices, MAX_JOINTS_PER_VERTEX),
             "bind_state": (1, n_joints, 8), "rest_vertices": (n_vertices, 3), "joints_weights": (n_joints, n_vertices),
             "param_transform.transform_offsets": np.shape(files.assets["lbs_config_dict"]["transform_offsets"]),
             "param_transform.transform": np.shape(files.assets["lbs_config_dict"]["transform"])}
    shapes = {f"lbs_fn.lbs_fn.{name}": shape for name, shape in inner.items()}
    shapes.update({"lbs_fn.lbs_scale": tuple(lbs.scale.shape), "lbs_fn.lbs_template_verts": (n_vertices, 3),
                   "lbs_fn.global_scaling": tuple(lbs.global_scaling.shape), "meye_mask": (1, 1, TEX_SIZE, TEX_SIZE)})
    config, n_cameras = files.config, len(files.assets["camera_ids"])
    if "renderer" in config:
        shapes["renderer.image_size"] = (2,)
    if "cal" in config:
        shapes["cal.holder.params"] = (n_cameras, CALIBRATION_PARAMETERS)
    if "pixel_cal" in config:
        pixel = config["pixel_cal"]
        shapes["pixel_cal.bias"] = (n_cameras, 1, pixel["image_width"] // pixel["ds_rate"],
                                    pixel["image_height"] // pixel["ds_rate"])
    if config.get("learn_blur", False):
        shapes["learn_blur.weights_raw"] = (n_cameras, 3)
    return shapes


class BodyDecoder(nn.Module):
    """Pose and face code -> posed mesh and its 2048^2 texture (module docstring); submodule names as the
    original's state dict."""

    def __init__(self, config: dict[str, Any], assets: dict[str, Any]):
        """config: the `model` section of config.yml; assets: the static_assets dict (assets.py checks both)."""
        super().__init__()
        topology = assets["topology"]
        self.geo_fn = GeometryModule(len(topology["vi"]), len(topology["vt"]), len(topology["v2uv"]), UV_SIZE)
        self.lbs = LinearBlendSkinning.from_assets(assets)
        self.seam_sampler = SeamSampler(len(assets["seam_data_1024"]["dst_ij"]), UV_SIZE)
        self.seam_sampler_2k = SeamSampler(len(assets["seam_data_2048"]["dst_ij"]), TEX_SIZE)
        self.register_buffer("tex_mean", torch.zeros(1, 3, TEX_SIZE, TEX_SIZE))
        self.tex_std = float(assets.get("tex_var", DEFAULT_TEX_STD))
        decoder = config["decoder"]
        self.register_buffer("face_cond_mask", torch.zeros(1, 1, decoder["init_uv_size"], decoder["init_uv_size"]))
        self.decoder = ConvDecoder(self.geo_fn, self.seam_sampler, **decoder)
        self.encoder = Encoder(self.geo_fn, config["encoder"]["n_embs"])
        face_encoder, face_decoder = config["encoder_face"] or {}, config["decoder_face"] or {}
        self.encoder_face = FaceEncoder(face_encoder.get("n_embs", FACE_CODE), face_encoder.get("n_vert_in", FACE_VALUES))
        self.decoder_face = FaceDecoderFrontal(face_decoder.get("n_latent", FACE_CODE),
                                               face_decoder.get("n_vert_out", FACE_VALUES))
        self.decoder_view = UNetViewDecoder(self.geo_fn, **config["decoder_view"])
        self.shadow_net = ShadowUNet(**config["shadow_net"])
        self.upscale_net = UpscaleNet(config["upscale_net"]["n_ftrs"], UV_SIZE)

    @classmethod
    def from_files(cls, files: PersonFiles) -> "BodyDecoder":
        """The decoder of one person with its checkpoint loaded strictly (module docstring), in eval mode."""
        model = cls(files.config, files.assets)
        path = files.folder / "body_dec.ckpt"
        state = dict(files.state)
        for key, shape in ignored_key_shapes(files, model.lbs).items():
            if key not in state:
                raise ValueError(f"{path}: missing {key}; use the checkpoint of the original's ca_body download")
            if tuple(state.pop(key).shape) != shape:
                raise ValueError(f"{path}: {key} has a shape other than {shape}, which static_assets.pt and "
                                 f"config.yml imply; use the three files of one person's download")
        result = model.load_state_dict(state, strict=False)
        problems = ([f"missing {key}" for key in result.missing_keys]
                    + [f"unexpected {key}" for key in result.unexpected_keys])
        if problems:
            raise ValueError(f"{path}: does not fit config.yml ({'; '.join(problems[:3])}"
                             f"{'; ...' if len(problems) > 3 else ''}); use the three files of one person's download")
        return model.eval()

    def decode_shared(self, motion: torch.Tensor, face_codes: torch.Tensor, geom: torch.Tensor | None = None,
                      embs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The view-independent part. motion (B, 104) poses, face_codes (B, 256), geom (B, V, 3): the mesh the
        body encoder sees, by default the posed template (as the original's renderer); embs (B or 1, n_embs):
        the body code, when known (body_code) -> {geom: the decoded, posed mesh (B, V, 3), embs, face_embs,
        face_dec_geom, face_dec_tex, and ConvDecoder's outputs}."""
        if embs is None:
            embs = self.encoder(self.lbs.unpose(self.lbs.pose(motion) if geom is None else geom, motion))
        embs = embs.expand(len(motion), -1)
        face = self.decoder_face(face_codes)
        face_embs = self.encoder_face(face["face_geom"], face["face_tex"])
        decoded = self.decoder(motion, embs, face_embs)
        return {**decoded, "geom": self.lbs.pose(motion, decoded["geom_delta_rec"]), "embs": embs,
                "face_embs": face_embs, "face_dec_geom": face["face_geom"], "face_dec_tex": face["face_tex"]}

    def body_code(self) -> torch.Tensor:
        """The body code (1, n_embs) of the original's renderer for any pose: it encodes the posed template
        un-posed again, which is the template itself up to rounding (offsets ~1e-7; the code agrees with the
        original's to 1e-7), so zero offsets give it once per person."""
        return self.encoder(self.lbs.template.new_zeros(1, *self.lbs.template.shape))

    def decode_texture(self, shared: dict[str, torch.Tensor], camera_positions: torch.Tensor,
                       ao: torch.Tensor) -> dict[str, torch.Tensor]:
        """The view-dependent part for C cameras: camera_positions (C, 3), ao (C, 1, s, s); `shared` of batch
        1 or C -> {tex_rec (C, 3, 2048, 2048), tex_view_rec (C, 3, 1024, 1024), shadow_map (C, 1, 2048, 2048)
        after seam filling, as the original reports it}."""
        cameras = len(camera_positions)
        geom = shared["geom"].expand(cameras, -1, -1)
        tex_mean = shared["tex_mean_rec"].expand(cameras, -1, -1, -1)
        tex_view = self.decoder_view(geom, tex_mean, camera_positions)
        shadow = self.seam_sampler_2k.impaint(self.shadow_net(ao))
        tex = self.seam_sampler.resample(self.seam_sampler.impaint(tex_mean + tex_view))
        tex = F.interpolate(tex, size=(TEX_SIZE, TEX_SIZE), mode="bilinear", align_corners=False)
        tex = (tex + self.upscale_net(torch.cat([tex_mean, tex_view], 1))) * self.tex_std + self.tex_mean
        tex = tex * self.seam_sampler_2k.resample(self.seam_sampler_2k.resample(shadow.clone()))
        tex = self.seam_sampler_2k.resample(self.seam_sampler_2k.resample(self.seam_sampler_2k.impaint(tex)))
        return {"tex_rec": tex, "tex_view_rec": tex_view, "shadow_map": shadow}
