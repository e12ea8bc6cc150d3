"""The port of the original's Codec Avatar decoder (visualize/ca_body) against the original's own numbers
(../shared/fixtures/ca_body, random weights, fake assets): skinning, decoder, strict loading."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from sample import generate
from sample.results import Results, save_results
from tests.ca_body_fixtures import FIXTURES, load_golden, make_ca_body_folder, make_render_defaults
from tests.original_fixtures import PERSON, make_original_tree
from visualize.ca_body.assets import read_person
from visualize.ca_body import display, rasterizer
from visualize.ca_body.autoencoder import BodyDecoder
from visualize.ca_body.photoreal import PhotorealView
from visualize.ca_body.skinning import LinearBlendSkinning, joint_matrices
from visualize.render_results import make_view
from visualize.video import probe

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"golden fixtures not found at {FIXTURES}")


@pytest.fixture(scope="module")
def person(tmp_path_factory):
    return make_ca_body_folder(tmp_path_factory.mktemp("ca_body") / "PXB184")


@pytest.fixture(scope="module")
def decoder(person):
    return BodyDecoder.from_files(read_person(person))


@pytest.fixture(scope="module")
def decoded(decoder):
    inputs = load_golden("golden_decoder")["inputs"]
    with torch.no_grad():
        shared = decoder.decode_shared(inputs["lbs_motion"], inputs["face_embs"], inputs["geom"])
        return shared, decoder.decode_texture(shared, inputs["campos"], inputs["ao"])


def test_skinning_matches_the_original(person):
    golden = load_golden("golden_lbs")
    inputs = golden["inputs"]
    lbs = LinearBlendSkinning.from_assets(read_person(person).assets)
    motion = inputs["motion"]
    assert torch.allclose(lbs.scale.expand(len(motion), -1), inputs["lbs_scale"])
    parameters = lbs.joint_parameters(motion)
    states = lbs.skeleton_states(parameters)
    rest = torch.tensor(json.loads((FIXTURES / "lbs_model.json").read_text())["SkinnedModel"]["RestPositions"])
    ours = {"bind_state": lbs.bind_states, "params_transformed": parameters, "states": states,
            "joint_mats": joint_matrices(lbs.bind_states, states), "geom": lbs.pose(motion),
            "mesh_rest_skinned": lbs.skin(motion, rest[None]), "pose_with_delta": lbs.pose(motion, inputs["delta"]),
            "unpose_geom_noisy": lbs.unpose(inputs["geom_noisy"], motion)}
    for name, value in ours.items():
        assert (value - golden[name]).abs().max() < 1e-5, name
    assert golden["geom"].abs().max() > 5  # the tolerance is absolute, on values of the size of the body


def test_decoder_geometry_and_codes_match_the_original(decoded):
    shared, _ = decoded
    golden = load_golden("golden_decoder")
    for name in ("geom", "geom_delta_rec", "embs", "face_embs", "embs_conv", "pose_conv", "face_dec_geom"):
        assert (shared[name] - golden[name]).abs().max() < 1e-4, name
        assert golden[name].abs().max() > 1e-2, name  # not trivially zero


def summaries(name: str, maps: torch.Tensor, golden: dict) -> dict[str, torch.Tensor]:
    """golden key -> our value of the pools and crops the fixture stores of one map (B, C, H, W)."""
    ours = {}
    for key in golden:
        if key.startswith(name + "_avgpool") and key.split("avgpool")[1].isdigit():
            ours[key] = F.avg_pool2d(maps, int(key.split("avgpool")[1]))
        elif key.startswith(name + "_crop_"):
            row, column = map(int, key.split("_crop_")[1].split("_"))
            ours[key] = maps[:, :, row:row + 64, column:column + 64]
    return ours


def test_the_body_code_of_any_pose_is_the_originals(decoder):
    with torch.no_grad():
        assert (decoder.body_code() - load_golden("golden_decoder")["embs"]).abs().max() < 1e-6


def test_decoder_textures_match_the_original(decoded):
    shared, textures = decoded
    golden = load_golden("golden_decoder")
    maps = {"face_dec_tex": shared["face_dec_tex"], "tex_mean_rec": shared["tex_mean_rec"],
            "geom_uv_delta_rec": shared["geom_uv_delta_rec"], "tex_view_rec": textures["tex_view_rec"],
            "shadow_map": textures["shadow_map"], "tex_rec": textures["tex_rec"]}
    compared = 0
    for name, value in maps.items():
        for key, ours in summaries(name, value, golden).items():
            reference = golden[key]
            value_range = (reference.max() - reference.min()).item()
            assert value_range > 0, key
            assert (ours - reference).abs().max() <= 1e-3 * value_range, key
            compared += 1
    assert compared == 15
    tex = textures["tex_rec"]
    assert torch.allclose(tex.mean((2, 3)), golden["tex_rec_mean"], atol=1e-3 * 255)
    assert torch.allclose(tex.std((2, 3)), golden["tex_rec_std"], atol=1e-3 * 255)
    assert torch.allclose(tex.abs().amax((2, 3)), golden["tex_rec_absmax"], atol=1e-3 * 255)


def test_rendered_image_matches_the_original(decoder, decoded):
    shared, textures = decoded
    golden = load_golden("golden_decoder")
    inputs = golden["inputs"]
    geo = decoder.geo_fn
    rgb = rasterizer.render(shared["geom"], geo.vi, geo.vt, geo.vti, textures["tex_rec"], inputs["K"], inputs["Rt"],
                            96, 64)
    assert torch.equal(rgb > 0, golden["rgb"] > 0)  # the same pixels covered
    assert (rgb - golden["rgb"]).abs().max() < 0.05
    covered = (golden["rgb"] > 0).float().mean()
    assert 0.1 < covered < 0.9
    views = torch.cat(list(display.linear_to_display(rgb)), -1).permute(1, 2, 0)
    assert (views - golden["rgb_display_float"]).abs().max() < 0.05
    difference = (display.frame(rgb).int() - golden["rgb_final_uint8"].int()).abs()
    assert difference.max() <= 2 and (difference > 0).float().mean() < 0.01
    pooled = display.linear_to_display(F.avg_pool2d(textures["tex_rec"], 16))
    assert (pooled - golden["tex_rec_avgpool16_display"]).abs().max() < 0.01


def test_rasterizer_keeps_the_nearest_triangle_and_interpolates_uvs():
    # two triangles over the same pixels, the second nearer; a texture that is u itself
    vertices = torch.tensor([[[-1.0, -1.0, 4.0], [1.0, -1.0, 4.0], [0.0, 1.0, 4.0],
                              [-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 2.0]]])
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    uvs = torch.tensor([[0.0, 0.5], [1.0, 0.5], [0.5, 0.5]])
    texture = torch.linspace(0, 1, 64).expand(1, 1, 64, 64)
    K = torch.tensor([[[20.0, 0.0, 16.0], [0.0, 20.0, 16.0], [0.0, 0.0, 1.0]]])
    Rt = torch.cat([torch.eye(3), torch.zeros(3, 1)], 1)[None]
    face, bary = rasterizer.rasterize(rasterizer.project(vertices, K, Rt)[0], faces, 32, 32)
    assert (face[face >= 0] == 1).all() and (face >= 0).sum() > 50
    image = rasterizer.render(vertices, faces, uvs, torch.tensor([[0, 1, 2], [0, 1, 2]]), texture, K, Rt, 32, 32)[0, 0]
    row = image[8, 8:24]  # u grows linearly with x on a fronto-parallel triangle
    assert torch.allclose(row.diff(), torch.full((len(row) - 1,), 0.05), atol=1e-4)
    assert image[0, 0] == 0 and torch.allclose(bary.sum(-1)[face >= 0], torch.ones(1))


def test_loading_is_strict(person, tmp_path):
    files = read_person(person)
    files.state = {**files.state, "decoder.verts_conv.bias": torch.zeros(3, 4, 4)}
    with pytest.raises(RuntimeError, match="verts_conv.bias"):
        BodyDecoder.from_files(files)
    files = read_person(person)
    files.state = {key: value for key, value in files.state.items() if key != "shadow_net.ao_mean"}
    with pytest.raises(ValueError, match="missing shadow_net.ao_mean"):
        BodyDecoder.from_files(files)
    files = read_person(person)
    files.state = {**files.state, "learn_blur.weights_raw": torch.zeros(2, 3)}
    with pytest.raises(ValueError, match="learn_blur.weights_raw has a shape"):
        BodyDecoder.from_files(files)


def test_unknown_config_options_and_missing_assets_are_refused(person, tmp_path):
    folder = tmp_path / "person"
    folder.mkdir()
    for name in ("body_dec.ckpt", "static_assets.pt"):
        (folder / name).symlink_to(person / name)
    config = yaml.safe_load((person / "config.yml").read_text())
    config["model"]["shadow_net"]["n_layers"] = 5
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="model.shadow_net.n_layers is not an option"):
        read_person(folder)
    (folder / "static_assets.pt").unlink()
    with pytest.raises(ValueError, match="missing static_assets.pt"):
        read_person(folder)


def tiny_results(motions: torch.Tensor, data_format: str) -> Results:
    """results.npy content of one sample and repetition: motions (T, C), silent audio."""
    frames = len(motions)
    return Results(motions=motions.T[None, :, None].double().numpy(), audio=np.zeros((1, frames * 1600, 2), np.float32),
                   lengths=np.array([frames]), num_samples=1, num_repetitions=1, data_format=data_format)


def test_generate_plot_draws_the_photoreal_avatar_of_the_original_tree(tmp_path, capsys):
    """The original's --plot line on the original's tree with checkpoints/ca_body/data/PXB184 and
    assets/render_defaults_PXB184.pth: the video comes from the photoreal path, through the original's cameras."""
    root = make_original_tree(tmp_path / "tree")
    make_ca_body_folder(root / "checkpoints" / "ca_body" / "data" / PERSON)
    defaults = make_render_defaults(root / "assets" / f"render_defaults_{PERSON}.pth")
    inputs = load_golden("golden_decoder")["inputs"]
    out = tmp_path / "out"
    out.mkdir()
    body = save_results(out / "body.npy", tiny_results(inputs["lbs_motion"][:1].expand(3, -1), "pose"))
    face = save_results(out / "face.npy", tiny_results(inputs["face_embs"][:1].expand(3, -1), "face"))
    generate.main(["--model_path", str(root / "checkpoints" / "diffusion" / "c1_pose"), "--pose_codes", str(body),
                   "--face_codes", str(face), "--plot", "--render_size", "96", "--device", "cpu", "--no-progress"])
    said = capsys.readouterr().out
    assert f"[render] photoreal avatar of {root / 'checkpoints' / 'ca_body' / 'data' / PERSON}" in said
    assert f"the original's cameras ({defaults})" in said
    video = probe(out / "sample00_rep00_pred.mp4")
    assert video["frames"] == 3 and (video["width"], video["height"]) == (128, 96)


def test_without_the_files_the_reference_avatar_is_rendered_and_said(tmp_path, capsys):
    view = make_view(32, tmp_path / "checkpoints" / "ca_body" / "data" / PERSON, None)
    view.close()
    said = capsys.readouterr().out + capsys.readouterr().err
    assert "[render] the reference avatar (a2p's own body and face): no body_dec.ckpt, config.yml, " \
           "static_assets.pt in" in said


def test_without_render_defaults_a2p_frames_the_body_and_the_face(person):
    view = PhotorealView(person, None, size=64)
    motion = load_golden("golden_decoder")["inputs"]["lbs_motion"][:1]
    frame = view.render(motion.numpy(), np.zeros((1, 256), np.float32))[0]
    assert frame.shape == (64, 2 * view.width, 3) and "a2p's body and face cameras" in view.describe()
    body, face = frame[:, :view.width].max(-1) > 0, frame[:, view.width:].max(-1) > 0
    rows, columns = np.nonzero(body)
    assert abs(rows.mean() - 32) < 8 and abs(columns.mean() - view.width / 2) < 8  # the body in the middle
    assert rows.min() > 0 and rows.max() < 63  # all of it in view
    assert face.mean() > 0.3  # the close-up is filled by the top of the body
