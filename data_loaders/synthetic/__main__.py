"""`python -m data_loaders.synthetic --preset tiny|default --out DIR --seed N`: write the synthetic data set."""
import time

from data_loaders.synthetic.generate import SyntheticConfig, generate_dataset
from utils.cli import run_cli
from utils.config import parse_config


def main(argv: list[str] | None = None) -> None:
    config, = parse_config([SyntheticConfig], argv, description=(
        "Generate the synthetic conversational data set: pairs of persons (SYN001/SYN002, ...) talking with "
        "espeak-ng voices, moved by a procedural puppeteer, written in the official format."))
    start = time.perf_counter()
    folders, seconds = generate_dataset(config)
    print(f"wrote {len(folders)} persons ({', '.join(f.name for f in folders)}) in {config.out}: "
          f"{seconds / 3600:.2f} h of conversation, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    run_cli(main)
