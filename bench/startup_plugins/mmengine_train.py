"""An OpenMMLab-style training entry point: parse → Config.fromfile → Runner.from_cfg → train.

    python mmengine_train.py CONFIG [--work-dir DIR]
"""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner


def main():
    parser = argparse.ArgumentParser(description='Train a model with MMEngine.')
    parser.add_argument('config')
    parser.add_argument('--work-dir')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
