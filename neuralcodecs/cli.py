"""The ``ncodec`` command (bootstrap: train only)."""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None):
    from .train import TrainConfig, train
    from .registry import trainable_model_builder

    p = argparse.ArgumentParser(prog="ncodec")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--codec", default="hyperprior")
    t.add_argument("--data", nargs="+", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=100000)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--crop", type=int, default=256)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--lr-decay-steps", type=int, nargs="*", default=[])
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    t.add_argument("--save-every", type=int, default=1000)
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--model-args", default="{}")
    a = p.parse_args(argv)
    cfg = TrainConfig(codec=a.codec, data=a.data, out=a.out, steps=a.steps, batch_size=a.batch_size, crop=a.crop,
                      lr=a.lr, lr_decay_steps=a.lr_decay_steps, threads=a.threads, device=a.device, resume=a.resume,
                      save_every=a.save_every, precision=a.precision, log_every=a.log_every, model_args=json.loads(a.model_args))
    print(json.dumps(train(cfg, trainable_model_builder(a.codec))))


if __name__ == "__main__":
    sys.exit(main())
