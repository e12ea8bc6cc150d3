"""README.md shows the two commands for a fresh machine and the avatar's tables as the code defines them."""
from pathlib import Path

from avatar.parameters import FACE_CODE_DIMS, pose_table_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_shows_the_two_commands():
    assert "bash scripts/quickstart.sh" in README and "bash scripts/test.sh" in README


def test_readme_pose_table_matches_the_code():
    assert pose_table_markdown() in README


def test_readme_names_every_face_code_dim():
    for index, name in enumerate(FACE_CODE_DIMS):
        assert f"| {index} | {name} |" in README
