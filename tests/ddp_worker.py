"""torchrun entry of tests/test_train_loop.py: trains the toy problem in every process, then rank 0 writes
`save_dir/result.json` with its run() losses and the world size. Run alone, it is one training process
(the SIGTERM test stops it midway).

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py --save_dir DIR [TrainConfig and
        ToyConfig flags]
    python tests/ddp_worker.py --save_dir DIR [flags]
"""
import json
from pathlib import Path

import torch

from test_train_loop import ToyConfig, ToyDataset, ToyModel, toy_loss
from train.loop import TrainConfig, TrainLoop
from utils.config import parse_config
from utils.device import seed_everything


def main() -> None:
    torch.set_num_threads(1)
    train_cfg, toy = parse_config([TrainConfig, ToyConfig], description=__doc__)
    seed_everything(train_cfg.seed)
    loop = TrainLoop(ToyModel(toy), toy_loss, ToyDataset(), train_cfg, configs_to_save=(toy,))
    result = loop.run()
    if loop.dist.rank == 0:
        report = {"losses": result["losses"], "world_size": loop.dist.world_size}
        (Path(train_cfg.save_dir) / "result.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
