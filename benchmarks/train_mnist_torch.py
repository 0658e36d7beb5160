"""PyTorch CPU reference for benchmarks/train_mnist.py: the same LeNet, data and settings.

Run by train_mnist.py in its own process (never in the NumPy process: on 2 cores the two
thread pools fight). It loads MNIST once, then waits on stdin and answers each line with
one JSON line on stdout: ``train K`` trains the next K batches (a new shuffled epoch starts
when one ends), ``eval`` evaluates the test set, ``quit`` ends it. Stand-alone:
``python benchmarks/train_mnist_torch.py --epochs 3`` runs whole epochs directly.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from train_mnist import DEFAULT_DATA, load_mnist, standardise


def lenet() -> nn.Module:
    # conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu,fc10
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


class Trainer:
    def __init__(self, data, seed, lr, batch_size, threads, limit):
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        xt, yt, xv, yv = standardise(*load_mnist(data, limit))
        # NHWC float32 -> NCHW
        self.xt = torch.from_numpy(np.ascontiguousarray(xt.transpose(0, 3, 1, 2)))
        self.yt = torch.from_numpy(yt.astype(np.int64))
        self.xv = torch.from_numpy(np.ascontiguousarray(xv.transpose(0, 3, 1, 2)))
        self.yv = torch.from_numpy(yv.astype(np.int64))
        self.model = lenet()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.loss = nn.CrossEntropyLoss()
        self.batch_size = batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.order, self.position = None, 0

    def train_batches(self, count: int) -> dict:
        """Train the next ``count`` batches; returns wall and CPU seconds and the summed loss."""
        self.model.train()
        n = self.xt.shape[0]
        t0, c0 = time.perf_counter(), time.process_time()
        total, seen = 0.0, 0
        for _ in range(count):
            if self.order is None or self.position >= n:
                self.order, self.position = torch.randperm(n, generator=self.gen), 0
                self.epoch += 1
            idx = self.order[self.position : self.position + self.batch_size]
            self.position += self.batch_size
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.xt[idx]), self.yt[idx])
            loss.backward()
            self.opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        return {"train_s": time.perf_counter() - t0, "train_cpu_s": time.process_time() - c0,
                "loss_sum": total, "seen": seen}

    def evaluate(self) -> dict:
        self.model.eval()
        t1 = time.perf_counter()
        with torch.no_grad():
            pred = torch.cat([self.model(self.xv[i : i + 256]).argmax(1) for i in range(0, len(self.xv), 256)])
        return {"eval_s": time.perf_counter() - t1, "test_acc": float((pred == self.yv).float().mean()),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    def run_epoch(self) -> dict:
        n_batches = -(-self.xt.shape[0] // self.batch_size)
        trained = self.train_batches(n_batches)
        return {"epoch": self.epoch, "loss": trained["loss_sum"] / trained["seen"], **trained, **self.evaluate()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="run directly instead of serving stdin")
    args = ap.parse_args()
    trainer = Trainer(args.data, args.seed, args.lr, args.batch_size, args.threads, args.limit)
    if args.epochs:
        for _ in range(args.epochs):
            print(json.dumps(trainer.run_epoch()), flush=True)
        return
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["train"]:
            print(json.dumps(trainer.train_batches(int(words[1]))), flush=True)
        elif words == ["eval"]:
            print(json.dumps(trainer.evaluate()), flush=True)
        else:
            break


if __name__ == "__main__":
    main()
