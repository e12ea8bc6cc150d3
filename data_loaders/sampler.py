"""Which items each training step sees, as a pure function of (seed, step).

The training dataset is indexed by an integer item seed: `dataset[item_seed]` draws a random window (and
the loss draws its noise, timestep and condition dropout) from that seed alone. `StepSeedSampler` yields,
for every step s, the item seeds of the global batch drawn from `np.random.default_rng([seed, s])`, and
hands each DDP rank its contiguous slice of them. So a run resumed at step N sees exactly the batches of an
uninterrupted run, and 2 ranks x B/2 items see exactly the items of 1 rank x B.

    sampler = StepSeedSampler(seed=10, global_batch_size=64, start_step=step, rank=rank, world_size=world,
                              num_steps=num_steps)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

ITEM_SEED_HIGH = 2**62  # item seeds are drawn uniformly from [0, 2**62): they fit int64 with room for salts


def global_batch_seeds(seed: int, step: int, global_batch_size: int) -> list[int]:
    """The item seeds of the whole (all ranks) batch of `step`."""
    rng = np.random.default_rng([seed, step])
    return rng.integers(0, ITEM_SEED_HIGH, size=global_batch_size, dtype=np.int64).tolist()


class StepSeedSampler:
    """Iterable of lists of int item seeds, one list (this rank's slice of the global batch) per step.

    Steps run from `start_step` to `num_steps - 1` (forever when `num_steps` is None). Each rank gets
    `global_batch_size // world_size` seeds: rank r takes positions [r*b, (r+1)*b) of the global batch.
    """

    def __init__(self, seed: int, global_batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1,
                 num_steps: int | None = None):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if global_batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {global_batch_size}")
        if global_batch_size % world_size != 0:
            raise ValueError(f"--batch_size {global_batch_size} (the global batch) is not divisible by the "
                             f"{world_size} processes; use a multiple of {world_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside [0, {world_size})")
        self.seed = seed
        self.global_batch_size = global_batch_size
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size
        self.num_steps = num_steps
        self.local_batch_size = global_batch_size // world_size

    def seeds_for_step(self, step: int) -> list[int]:
        """This rank's item seeds at `step`."""
        first = self.rank * self.local_batch_size
        return global_batch_seeds(self.seed, step, self.global_batch_size)[first:first + self.local_batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while self.num_steps is None or step < self.num_steps:
            yield self.seeds_for_step(step)
            step += 1

    def __len__(self) -> int:
        if self.num_steps is None:
            raise TypeError("an endless StepSeedSampler (num_steps=None) has no length")
        return max(0, self.num_steps - self.start_step)
