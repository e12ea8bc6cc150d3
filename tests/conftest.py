"""Shared fixtures. Each pytest worker uses one torch thread: the suite runs two workers on two cores."""
import torch

torch.set_num_threads(1)
