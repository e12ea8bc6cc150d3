"""The original's sample.generate flags that a2p takes as they are (UPSTREAM 5.1), and its sampler.

- `--flip_person`: sample the paired identity's test split (PXB184 <-> RLW104, TXB805 <-> GQS883: the person
  folder's name with the ID replaced) with the two audio channels swapped, as the original's load_local_data
  does (UPSTREAM 1.3): the model hears the other side of the paired recording as its own voice. The model
  keeps its own person's statistics, as the original's do. With --audio FILE the file's channels are swapped.
- `--curr_seq_length N`: the original's frames per sample; a2p's --max_seq_length (the test chunks and the
  windows of long audio). Given both, they must agree.
- `--cuda` / `--no-cuda`: the original's device switch; --cuda = CUDA when there is one (a2p's --device auto),
  --no-cuda = the CPU. A --device other than auto wins.
- The sampler: the original's code always ran DDIM (eta 0). A line that names `--timestep_respacing ddimN` for
  one of the original's models and no `--sampler` samples with DDIM, as the original does, and says so; without
  --timestep_respacing a2p's default (DPM-Solver++, 20 steps) runs, also said in one line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from utils.config import arg

PAIRED_IDENTITY = {"PXB184": "RLW104", "RLW104": "PXB184", "TXB805": "GQS883", "GQS883": "TXB805"}
ORIGINAL_SAMPLER = "ddim"


@dataclass
class OriginalFlagsConfig:
    """The original's own sample.generate flags (sample/original_flags.py)."""
    flip_person: bool = arg(False, "sample the paired identity's test split (PXB184 <-> RLW104, TXB805 <-> "
                                   "GQS883) with the audio channels swapped, as the original (with --audio: the "
                                   "file's channels swapped)")
    curr_seq_length: Optional[int] = arg(None, "the original's name for --max_seq_length: frames per sample")
    cuda: Optional[bool] = arg(None, "the original's device switch: --cuda = CUDA when there is one (as --device "
                                     "auto), --no-cuda = cpu; a --device other than auto wins")


def flag_given(argv: list[str], flag: str) -> bool:
    """Whether `flag` (e.g. "--sampler") is on the command line argv, as `--flag value` or `--flag=value`."""
    return any(token == flag or token.startswith(flag + "=") for token in argv)


def original_sampler_default(argv: list[str]) -> dict:
    """{"sampler": "ddim"} when the line names --timestep_respacing and no --sampler (the original's sampling
    for its models; module docstring), else {}."""
    if flag_given(argv, "--timestep_respacing") and not flag_given(argv, "--sampler"):
        return {"sampler": ORIGINAL_SAMPLER}
    return {}


def sampler_note(argv: list[str], settings) -> str:
    """One line saying which sampler runs for one of the original's models, and why."""
    if original_sampler_default(argv):
        why = "the original's sampler, as the line names --timestep_respacing and no --sampler"
    elif flag_given(argv, "--sampler"):
        why = "--sampler as given"
    else:
        why = "a2p's default; --sampler ddim --timestep_respacing ddim500 is the original's setting"
    return f"sampler {settings.sampler}, {settings.timestep_respacing or 'all steps'} ({why})"


def window_length(max_seq_length: int | None, curr_seq_length: int | None) -> int | None:
    """The frames per sample of --max_seq_length and the original's --curr_seq_length (None: the model's)."""
    if max_seq_length is not None and curr_seq_length is not None and max_seq_length != curr_seq_length:
        raise SystemExit(f"--curr_seq_length {curr_seq_length} and --max_seq_length {max_seq_length} name the same "
                         f"frames per sample: give one of them")
    return max_seq_length if max_seq_length is not None else curr_seq_length


def paired_folder(data_root: str) -> str:
    """The paired identity's person folder beside `data_root` (its name with the ID replaced); one line naming
    the pairs when the folder names none of them."""
    path = Path(data_root)
    name = path.name or path.resolve().name
    person = next((person for person in PAIRED_IDENTITY if person in name), None)
    if person is None:
        raise SystemExit(f"--flip_person: the person folder {data_root} names none of the original's paired "
                         f"identities ({', '.join(f'{a} <-> {b}' for a, b in list(PAIRED_IDENTITY.items())[::2])})")
    paired = path.resolve().parent / name.replace(person, PAIRED_IDENTITY[person])
    if not paired.is_dir():
        raise FileNotFoundError(f"--flip_person: the paired identity's folder {paired} is not there; put the "
                                f"{PAIRED_IDENTITY[person]} data set beside {data_root}")
    return str(paired)
