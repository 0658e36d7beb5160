"""Train the zoo's resnet20 on MNIST with cnnconv.nn and with PyTorch CPU on the same network.

    python benchmarks/train_resnet20.py                         # 6000 images, 2 epochs, both sides
    python benchmarks/train_resnet20.py --limit 0 --epochs 1    # the whole training set
    python benchmarks/train_resnet20.py --side numpy --limit 1000 --epochs 1   # one side only

The network is ``cnnconv shape -l resnet20`` (the CIFAR ResNet-20 of He et al.: 16/32/64
channels, three basic blocks per stage, bias-free convolutions with batch norm, projection
shortcuts) with its first convolution taking MNIST's one channel: the input is adapted, not
resized, so both sides see the 28×28 digits (7×7 maps in the last stage). PyTorch runs the
same graph: benchmarks/torch_graph.py builds a ``torch.nn.Module`` from cnnconv's parsed
spec, node by node, and starts from cnnconv's initial weights (copied, HWIO -> OIHW), so
the two runs differ only by their arithmetic and their batch order.

Each side runs in a process of its own (so each peak RSS is its own), one after the other,
with the same thread count (``--threads``, default 2: OpenBLAS for NumPy, ``torch.set_num_threads``
for PyTorch): Adam, lr 1e-3, batch 64, the training subset shuffled per epoch. Reported per
epoch: training seconds and test accuracy (the first ``limit / 6`` test images); at the end
the median ratio of cnnconv's seconds per epoch to PyTorch's, and both peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    # BLAS reads these when numpy loads: the target machine has 2 cores
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "2"
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)

import numpy as np  # noqa: E402

from train_mnist import DEFAULT_DATA, load_mnist, standardise  # noqa: E402  (benchmarks/ is the script's folder)

SPEC = "resnet20"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_numpy(args, weights_out: Path) -> dict:
    from cnnconv.nn.model import build_network, predict
    from cnnconv.nn.train import FitOptions, Resume, fit

    xt, yt, xv, yv = standardise(*load_mnist(args.data, args.limit or None))
    net = build_network(SPEC, (28, 28, 1), 10, seed=args.seed)
    np.savez(weights_out, **net.state())  # PyTorch starts from these
    epochs, history, optimizer_state = [], (), {}
    for epoch in range(args.epochs):
        options = FitOptions(lr=args.lr, batch_size=args.batch_size, epochs=1, seed=args.seed, threads=args.fit_threads)
        t0 = time.perf_counter()
        result = fit(net, xt, yt, None, None, options, resume=Resume(history, optimizer_state))
        seconds = time.perf_counter() - t0
        history, optimizer_state = tuple(result.history), result.optimizer_state
        t1 = time.perf_counter()
        accuracy = float(np.mean(predict(net, xv) == yv))
        epochs.append({"epoch": epoch + 1, "train_s": seconds, "eval_s": time.perf_counter() - t1,
                       "loss": result.history[-1]["loss"], "test_acc": accuracy})
        print(json.dumps({"numpy": epochs[-1]}), file=sys.stderr, flush=True)
    return {"side": "numpy", "numpy": np.__version__, "epochs": epochs, "peak_rss_mib": peak_rss_mib(),
            "train_images": len(yt), "test_images": len(yv), "params": net.num_parameters()}


def run_torch(args, weights_in: Path) -> dict:
    import torch

    from cnnconv.nn.model import build_network
    from torch_graph import TorchGraph

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xt, yt, xv, yv = standardise(*load_mnist(args.data, args.limit or None))
    net = build_network(SPEC, (28, 28, 1), 10, seed=args.seed)
    with np.load(weights_in) as saved:
        net.load_state({k: saved[k] for k in saved.files})
    model = TorchGraph(net)
    xt_t = torch.from_numpy(np.ascontiguousarray(xt.transpose(0, 3, 1, 2)))
    xv_t = torch.from_numpy(np.ascontiguousarray(xv.transpose(0, 3, 1, 2)))
    yt_t, yv_t = torch.from_numpy(yt), torch.from_numpy(yv)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    epochs = []
    for epoch in range(args.epochs):
        model.train()
        order = torch.from_numpy(np.random.default_rng([args.seed, epoch + 1]).permutation(len(yt)))
        t0 = time.perf_counter()
        total = 0.0
        for start in range(0, len(yt), args.batch_size):
            idx = order[start : start + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt_t[idx]), yt_t[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        seconds = time.perf_counter() - t0
        model.eval()
        t1 = time.perf_counter()
        with torch.no_grad():
            predicted = torch.cat([model(xv_t[s : s + 256]).argmax(1) for s in range(0, len(yv), 256)])
        accuracy = float((predicted == yv_t).float().mean())
        epochs.append({"epoch": epoch + 1, "train_s": seconds, "eval_s": time.perf_counter() - t1,
                       "loss": total / len(yt), "test_acc": accuracy})
        print(json.dumps({"torch": epochs[-1]}), file=sys.stderr, flush=True)
    return {"side": "torch", "torch": torch.__version__, "epochs": epochs, "peak_rss_mib": peak_rss_mib(),
            "params": sum(p.numel() for p in model.parameters())}


def side(args, which: str, weights: Path) -> dict:
    cmd = [sys.executable, __file__, "--side", which, "--weights", str(weights), "--data", str(args.data),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
           "--seed", str(args.seed), "--threads", str(args.threads), "--limit", str(args.limit)]
    if args.fit_threads:
        cmd += ["--fit-threads", str(args.fit_threads)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, cwd=Path(__file__).parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the MNIST IDX .gz files (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="OpenBLAS and PyTorch threads")
    ap.add_argument("--limit", type=int, default=6000, help="training images (0: all 60000); test images: limit/6")
    ap.add_argument("--fit-threads", type=int, choices=(1, 2), default=None, help="cnnconv fit's threads option")
    ap.add_argument("--side", choices=("both", "numpy", "torch"), default="both")
    ap.add_argument("--weights", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the results as one JSON document")
    args = ap.parse_args()
    if args.side == "numpy" and args.weights:
        print(json.dumps(run_numpy(args, args.weights)))
        return
    if args.side == "torch" and args.weights:
        print(json.dumps(run_torch(args, args.weights)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "initial.npz"
        results = {"numpy": side(args, "numpy", weights)}
        if args.side == "both":
            results["torch"] = side(args, "torch", weights)
    report(args, results)


def report(args, results) -> None:
    rows = []
    for name, r in results.items():
        seconds = [e["train_s"] for e in r["epochs"]]
        rows.append((name, statistics.median(seconds), r["epochs"][-1]["test_acc"], r["peak_rss_mib"], r))
    if args.json:
        print(json.dumps(results))
        return
    n = results["numpy"]
    print(f"resnet20 on MNIST 28x28x1: {n['train_images']} training images, {n['test_images']} test images, "
          f"{args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}, {args.threads} threads; "
          f"{n['params']:,} parameters")
    print(f"{'side':8} {'s/epoch (median)':>17} {'test acc':>9} {'peak RSS MiB':>13}  per-epoch seconds")
    for name, med, acc, rss, r in rows:
        print(f"{name:8} {med:17.1f} {acc:9.3f} {rss:13.0f}  {[round(e['train_s'], 1) for e in r['epochs']]}")
    if "torch" in results:
        print(f"ratio cnnconv / PyTorch seconds per epoch: {rows[0][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    main()
