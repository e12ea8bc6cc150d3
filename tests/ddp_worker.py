"""torchrun entry of tests/test_train_loop.py: trains the toy problem in every process, then rank 0 writes
`save_dir/result.json` with its run() losses and the world size. Run alone, it is one training process
(the SIGTERM test stops it midway; --disk_room makes its checkpoint writes fail like a full disk).

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py --save_dir DIR [TrainConfig and
        ToyConfig flags]
    python tests/ddp_worker.py --save_dir DIR [flags]
"""
import json
from pathlib import Path

import torch

import train.checkpoint
from test_train_loop import FillingDisk, ToyConfig, ToyDataset, ToyModel, toy_loss
from train.loop import TrainConfig, TrainLoop
from utils.cli import run_cli
from utils.config import parse_config
from utils.device import seed_everything


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    train_cfg, toy = parse_config([TrainConfig, ToyConfig], argv, description=__doc__)
    seed_everything(train_cfg.seed)
    loop = TrainLoop(ToyModel(toy), toy_loss, ToyDataset(toy.stuck_after), train_cfg, configs_to_save=(toy,))
    if toy.disk_room:
        train.checkpoint.open = FillingDisk(toy.disk_room)
    result = loop.run()
    if loop.dist.rank == 0:
        report = {"losses": result["losses"], "world_size": loop.dist.world_size}
        (Path(train_cfg.save_dir) / "result.json").write_text(json.dumps(report))


if __name__ == "__main__":
    run_cli(main)
