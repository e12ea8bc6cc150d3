"""A model folder's sampling.json: read, checked, and taken unless a flag is given (sample/recommended.py)."""
import pytest

from sample import generate
from sample.recommended import recommended_sampling, sampling_settings, write_recommended_sampling
from sample.windows import SamplingConfig


def test_the_folder_recommends_and_flags_win(tmp_path):
    (tmp_path / "model000000010.pt").write_bytes(b"")  # a model file: its folder is read
    assert recommended_sampling(tmp_path) == {} and sampling_settings(tmp_path) == SamplingConfig()
    write_recommended_sampling(tmp_path, {"guidance_param": 7.0, "timestep_respacing": "ddim7"})
    recommended = {"guidance_param": 7.0, "timestep_respacing": "ddim7"}
    assert recommended_sampling(tmp_path / "model000000010.pt") == recommended
    chosen = sampling_settings(tmp_path, guidance_param=None, sampler=None, num_repetitions=2)
    assert (chosen.guidance_param, chosen.timestep_respacing, chosen.sampler, chosen.num_repetitions) == (
        7.0, "ddim7", SamplingConfig().sampler, 2)
    assert sampling_settings(tmp_path, guidance_param=1.5).guidance_param == 1.5


def test_generate_takes_the_folders_settings_unless_flags_are_given(tmp_path):
    model = tmp_path / "face"
    model.mkdir()
    settings = lambda *flags: generate.parse_flags(["--model_path", str(model), *flags])[1]  # noqa: E731
    assert settings() == SamplingConfig()  # no sampling.json: the defaults
    write_recommended_sampling(model, {"guidance_param": 7.0, "sampler": "ddim", "timestep_respacing": "ddim7"})
    assert (settings().guidance_param, settings().sampler, settings().timestep_respacing) == (7.0, "ddim", "ddim7")
    given = settings("--guidance_param", "2.5", "--timestep_respacing", "ddim3")
    assert (given.guidance_param, given.sampler, given.timestep_respacing) == (2.5, "ddim", "ddim3")


@pytest.mark.parametrize("content,message", [
    ('{"guidance": 3}', "unknown sampling settings"), ('{"sampler": "euler"}', "sampler 'euler' is none of"),
    ('{"guidance_param": "high"}', "not a number"), ('{"timestep_respacing": 20}', "not a string"),
    ("[1, 2]", "not an object"), ("{guidance", "not valid JSON")])
def test_a_malformed_file_is_named(tmp_path, content, message):
    (tmp_path / "sampling.json").write_text(content)
    with pytest.raises(ValueError, match=f"sampling.json: .*{message}"):
        recommended_sampling(tmp_path)
