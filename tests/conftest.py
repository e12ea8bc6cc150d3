"""Shared fixtures. Each pytest worker uses one torch thread: the suite runs two workers on two cores.
Feature banks of the trainings (data_loaders/feature_bank.py, default folder under XDG_CACHE_HOME) go to a
folder of the test run's own, not the user's cache."""
import os
import tempfile
from pathlib import Path

import torch

torch.set_num_threads(1)
os.environ["XDG_CACHE_HOME"] = str(Path(tempfile.gettempdir()) / f"a2p-tests-cache-{os.getuid()}")
