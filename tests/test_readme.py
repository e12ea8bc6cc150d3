"""README.md shows the two commands for a fresh machine and the avatar's tables as the code defines them."""
from pathlib import Path

from avatar.parameters import face_table_markdown, pose_table_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_shows_the_two_commands():
    assert "bash scripts/quickstart.sh" in README and "bash scripts/test.sh" in README


def test_readme_pose_table_matches_the_code():
    assert pose_table_markdown() in README


def test_readme_face_code_table_matches_the_code():
    assert face_table_markdown() in README
