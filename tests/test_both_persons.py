"""Both persons of a conversation (sample.generate --both): the partner hears the channels swapped, each mouth moves
with its own voice (shipped face model, the shipped example conversation), and the video shows the two facing
each other above their face close-ups."""
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.skeleton import JOINT_INDEX, forward_kinematics
from data_loaders.synthetic.speech_events import voice_activity
from data_loaders.stats import Normalizer, load_stats
from sample.generate import Inputs
from sample.generate import main as generate
from sample.metrics import mouth_openings
from sample.partner import PARTNER_RESULTS, partner_inputs
from sample.results import ResultsError, load_results
from visualize.conversation import placements
from visualize.conversation_view import ConversationView, side_camera
from visualize.render_results import render_results
from visualize.renderer import BACKGROUND

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "assets" / "example_conversation.wav"
MOUTH_RATIO = 3.0  # mouth opening in one's own speech over the opening while the other speaks, at least


@pytest.fixture(scope="module")
def both_faces(tmp_path_factory) -> Path:
    """The shipped face model's results of the example conversation, person and partner, 2 repetitions."""
    out = tmp_path_factory.mktemp("both") / "face"
    return generate(["--model_path", str(REPO / "checkpoints" / "face"), "--audio", str(EXAMPLE), "--both",
                     "--num_repetitions", "2", "--output_dir", str(out), "--device", "cpu", "--no-progress"])


def mouth_ratios(person_results: Path) -> dict[str, list[float]]:
    """Per person and repetition: mean vertical mouth opening (cm, negative as 0) in the frames where only its
    own channel speaks over the frames where only the other's does (energy voice activity of each channel)."""
    person, partner = load_results(person_results), load_results(person_results.with_name(PARTNER_RESULTS))
    audio = person.audio_row(0)
    active = [voice_activity(audio[:, channel]) for channel in (0, 1)]
    alone = [active[0] & ~active[1], active[1] & ~active[0]]
    ratios = {}
    for name, results, own in (("person", person, 0), ("partner", partner, 1)):
        ratios[name] = []
        for rep in range(results.num_repetitions):
            opening = np.clip(mouth_openings(results.motion(rep, 0)), 0.0, None)
            ratios[name].append(opening[alone[own]].mean() / opening[alone[1 - own]].mean())
    return ratios


def test_partner_hears_the_channels_swapped_and_draws_its_own_noise(both_faces):
    person, partner = load_results(both_faces), load_results(both_faces.with_name(PARTNER_RESULTS))
    assert np.array_equal(partner.audio[0], person.audio[0][:, ::-1])
    assert (partner.num_samples, partner.num_repetitions, partner.frames) == (1, 2, 360)
    assert partner.gt is None and partner.scenes is None
    assert not np.allclose(partner.motions, person.motions)


def test_partner_inputs_of_the_test_split_swap_the_channels_and_drop_the_persons_ground_truth():
    normalizer = Normalizer(load_stats(REPO / "checkpoints" / "face"))
    raw = np.random.default_rng(0).normal(0, 0.1, (2, 3200, 2)).astype(np.float32)
    inputs = Inputs(torch.zeros(2, 3200, 2), raw, np.array([2, 2]), torch.zeros(2, 2, 256), None,
                    np.array(["scene01", "scene02"]), np.array([0, 60]))
    partner = partner_inputs(inputs, normalizer)
    assert np.array_equal(partner.raw_audio[..., 0], raw[..., 1]) and np.array_equal(partner.raw_audio[..., 1],
                                                                                      raw[..., 0])
    torch.testing.assert_close(partner.audio, normalizer.normalize(torch.from_numpy(raw[..., ::-1].copy()), "audio"))
    assert partner.gt is None and partner.scenes is None and partner.starts is None
    assert np.array_equal(partner.lengths, inputs.lengths)


def test_each_mouth_moves_with_its_own_voice_and_rests_while_the_other_speaks(both_faces):
    ratios = mouth_ratios(both_faces)
    print("mouth opening own speech / other's speech:", {k: [round(r, 1) for r in v] for k, v in ratios.items()})
    assert min(min(values) for values in ratios.values()) >= MOUTH_RATIO


def test_flags_of_the_partner_need_both_and_the_same_kind_of_model(tmp_path):
    face = str(REPO / "checkpoints" / "face")
    with pytest.raises(SystemExit, match="--partner_model_path is for the conversation partner: add --both"):
        generate(["--model_path", face, "--partner_model_path", "x"])
    with pytest.raises(SystemExit, match="--grid shows one person's repetitions: leave it out with --both"):
        generate(["--model_path", face, "--both", "--grid"])
    with pytest.raises(SystemExit, match="--partner_model_path .*pose is a pose model, but --model_path .*face is a "
                                         "face model"):
        generate(["--model_path", face, "--audio", str(EXAMPLE), "--both", "--partner_model_path",
                  str(REPO / "checkpoints" / "pose"), "--output_dir", str(tmp_path), "--device", "cpu"])


def test_the_side_camera_sees_the_person_on_the_left_and_the_partner_on_the_right():
    _, positions = forward_kinematics(torch.zeros(104, dtype=torch.float64))
    head = positions[JOINT_INDEX["head"]].numpy()
    columns = [side_camera().project(place.apply(head)[None, None], 256, 128)[0, 0, 0] for place in placements(2)]
    assert 0 < columns[0] < 128 < columns[1] < 256


def test_conversation_video_shows_two_bodies_and_two_faces(both_faces, tmp_path):
    results = load_results(both_faces)
    partner = load_results(both_faces.with_name(PARTNER_RESULTS))
    for stored in (results, partner):  # 10 frames of the first repetition keep it fast
        stored.motions, stored.lengths = stored.motions[:, :, :, :10], np.minimum(stored.lengths, 10)
        stored.audio = np.asarray(stored.audio)[:, :10 * 1600]
    videos = render_results(face_results=results, partner_face_results=partner, out_dir=tmp_path, size=64,
                            progress=False)
    assert [video.name for video in videos] == ["sample00_rep00_both.mp4", "sample00_rep01_both.mp4"]
    view = ConversationView(size=64)
    try:
        rest = np.zeros((2, 104))
        frames = view.render([rest, rest], [results.motion(0, 0)[:2], partner.motion(0, 0)[:2]])
    finally:
        view.close()
    assert frames.shape == (2, 128, 128, 3)
    drawn = np.abs(frames[0].astype(float) - np.array(BACKGROUND) * 255).sum(-1) > 30
    top, bottom = drawn[:64], drawn[64:]
    assert top[:, :64].mean() > 0.02 and top[:, 64:].mean() > 0.02  # a body in each half of the side view
    assert bottom[:, :64].mean() > 0.3 and bottom[:, 64:].mean() > 0.3  # each close-up filled by a face
    partner.lengths = partner.lengths - 1
    with pytest.raises(ResultsError, match="the partner's results .* do not match the person's"):
        render_results(face_results=results, partner_face_results=partner, out_dir=tmp_path, size=64, progress=False)
