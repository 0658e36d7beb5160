"""Train LeNet on MNIST with cnnconv.nn and, epoch by epoch, with PyTorch CPU beside it.

    python benchmarks/train_mnist.py                    # 3 epochs, Adam 1e-3, batch 64, 2 threads
    python benchmarks/train_mnist.py --no-torch --epochs 1
    python benchmarks/train_mnist.py --as-folder mnist_folder   # PNG folder data set, then exit

The network is LeNet-5 as the course writes it, ``conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu,fc10``.
MNIST is read from the IDX ``.gz`` files directly, by default from ``../shared/datasets/mnist``
beside the repository (``--data DIR`` for another folder). PyTorch runs in a separate process
(benchmarks/train_mnist_torch.py) and the two take turns — 50 NumPy batches, then 50
PyTorch batches (``--chunk``) — so they never share the 2 cores and both see the same
machine load, which other jobs change from minute to minute.
Each NumPy epoch goes through ``cnnconv.nn.train.fit`` with ``epochs=1`` and the previous
epoch's history and optimiser state (the ``--resume`` path), which is exact.
Reported per epoch: training seconds, test-set evaluation seconds, test accuracy; at the
end the median ratio of NumPy to PyTorch training seconds and both peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    # BLAS reads these when numpy loads: the target machine has 2 cores
    _flag = "--blas-threads" if "--blas-threads" in sys.argv else "--threads"
    _threads = sys.argv[sys.argv.index(_flag) + 1] if _flag in sys.argv else "2"
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)

import numpy as np  # noqa: E402

#: The course's shared folder sits beside the repository: ../shared/datasets/mnist from its root.
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist"
SPEC = "conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu,fc10"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed) as a uint8 array of its declared shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(root=DEFAULT_DATA, limit=None):
    """``(x_train, y_train, x_test, y_test)``: uint8 images (N, 28, 28, 1) and labels."""
    root = Path(root)
    if not (root / "train-images.idx3-ubyte.gz").is_file():
        raise SystemExit(f"{root}: no MNIST IDX files (train-images.idx3-ubyte.gz ...) here; give the folder with --data DIR")
    xt = read_idx(root / "train-images.idx3-ubyte.gz")[..., None]
    yt = read_idx(root / "train-labels.idx1-ubyte.gz")
    xv = read_idx(root / "t10k-images.idx3-ubyte.gz")[..., None]
    yv = read_idx(root / "t10k-labels.idx1-ubyte.gz")
    if limit:
        xt, yt, xv, yv = xt[:limit], yt[:limit], xv[: max(limit // 6, 1)], yv[: max(limit // 6, 1)]
    return xt, yt, xv, yv


def standardise(xt, yt, xv, yv):
    """Scale to [0, 1], then subtract the training mean and divide by its std (float32)."""
    xt, xv = xt.astype(np.float32), xv.astype(np.float32)
    xt /= 255.0  # in place: no float temporaries the size of the training set
    xv /= 255.0
    mean, std = float(xt.mean()), float(xt.std())
    for x in (xt, xv):
        x -= mean
        x /= std
    return xt, yt.astype(np.int64), xv, yv.astype(np.int64)


def write_folder(root: Path, data) -> None:
    """MNIST as ``root/train/<digit>/<n>.png`` and ``root/test/<digit>/<n>.png`` (for the CLI)."""
    from PIL import Image

    xt, yt, xv, yv = data
    for part, x, y in (("train", xt, yt), ("test", xv, yv)):
        for digit in range(10):
            (root / part / str(digit)).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(x, y)):
            Image.fromarray(image[:, :, 0]).save(root / part / str(label) / f"{i:05d}.png")
    print(f"wrote {len(xt)} training and {len(xv)} test PNGs under {root}")


def start_torch(args):
    script = Path(__file__).with_name("train_mnist_torch.py")
    cmd = [sys.executable, str(script), "--data", args.data, "--seed", str(args.seed), "--lr", str(args.lr),
           "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=script.parent)
    hello = json.loads(proc.stdout.readline())
    return proc, hello["torch"]


def ask(proc, command: str) -> dict:
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


class Interleaver:
    """``fit``'s on_batch callback: every ``chunk`` NumPy batches, PyTorch trains as many.

    The two sides take turns every fraction of a second, so a busy minute on the shared
    machine slows both alike; the time spent waiting for PyTorch is taken out of NumPy's.
    """

    def __init__(self, proc, chunk):
        self.proc, self.chunk = proc, chunk
        self.pending, self.paused = 0, 0.0
        self.torch = {"train_s": 0.0, "train_cpu_s": 0.0, "loss_sum": 0.0, "seen": 0}

    def __call__(self, epoch, i, n_batches, running_loss):
        self.pending += 1
        if self.proc is None or (self.pending < self.chunk and i + 1 < n_batches):
            return
        t0 = time.perf_counter()
        reply = ask(self.proc, f"train {self.pending}")
        self.paused += time.perf_counter() - t0
        for key in self.torch:
            self.torch[key] += reply[key]
        self.pending = 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the MNIST IDX .gz files (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads and (by default) OpenBLAS threads")
    ap.add_argument("--blas-threads", type=int, default=None, help="OpenBLAS threads for the NumPy side")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--fit-threads", type=int, choices=(1, 2), default=None,
                    help="threads of cnnconv's fit (default: its own choice, 2 on two CPUs)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--chunk", type=int, default=50, help="batches each side trains before the other's turn")
    ap.add_argument("--as-folder", type=Path, metavar="DIR", help="write MNIST as a PNG folder data set and exit")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()

    raw = load_mnist(args.data, args.limit)
    if args.as_folder:
        write_folder(args.as_folder, raw)
        return
    from cnnconv.shape.grammar import parse_layers
    from cnnconv.nn.model import build_network, predict
    from cnnconv.nn.train import FitOptions, Resume, fit

    xt, yt, xv, yv = standardise(*raw)
    proc, torch_version = (None, None) if args.no_torch else start_torch(args)
    net = build_network(parse_layers(SPEC), (28, 28, 1), 10, seed=args.seed)
    print(f"numpy {np.__version__}, torch {torch_version or '-'}, {args.threads} torch threads, "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', '?')} OpenBLAS threads, load average {os.getloadavg()[0]:.1f}, "
          f"{len(xt)} training / {len(xv)} test images, batch {args.batch_size}, Adam lr {args.lr}")
    history, opt_state, rows = [], None, []
    try:
        for _ in range(args.epochs):
            turns = Interleaver(proc, args.chunk)
            c0 = time.process_time()
            options = FitOptions(lr=args.lr, batch_size=args.batch_size, epochs=1, threads=args.fit_threads, seed=args.seed)
            result = fit(net, xt, yt, None, None, options, resume=Resume(tuple(history), opt_state or {}), on_batch=turns)
            history, opt_state = result.history, result.optimizer_state
            train_cpu_s = time.process_time() - c0
            t0 = time.perf_counter()
            acc = float(np.mean(predict(net, xv) == yv))
            ours = {"epoch": history[-1]["epoch"], "loss": history[-1]["loss"],
                    "train_s": history[-1]["seconds"] - turns.paused,
                    "train_cpu_s": train_cpu_s, "eval_s": time.perf_counter() - t0, "test_acc": acc,
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            theirs = None
            if proc:
                t = turns.torch
                theirs = {"loss": t["loss_sum"] / t["seen"], "train_s": t["train_s"], "train_cpu_s": t["train_cpu_s"],
                          **ask(proc, "eval")}
            rows.append({"numpy": ours, "torch": theirs})
            line = (f"epoch {ours['epoch']}: numpy {ours['train_s']:.1f} s train + {ours['eval_s']:.1f} s test, "
                    f"loss {ours['loss']:.4f}, test {acc:.2%}")
            if theirs:
                line += (f" | torch {theirs['train_s']:.1f} s + {theirs['eval_s']:.1f} s, loss {theirs['loss']:.4f}, "
                         f"test {theirs['test_acc']:.2%} | ratio {ours['train_s'] / theirs['train_s']:.2f} "
                         f"(CPU seconds {ours['train_cpu_s']:.1f} vs {theirs['train_cpu_s']:.1f})")
            print(line, flush=True)
    finally:
        if proc:
            proc.stdin.write("quit\n")
            proc.stdin.close()
            proc.wait()
    summary = {
        "numpy_s_per_epoch_median": statistics.median(r["numpy"]["train_s"] for r in rows),
        "numpy_cpu_s_per_epoch_median": statistics.median(r["numpy"]["train_cpu_s"] for r in rows),
        "numpy_test_acc": rows[-1]["numpy"]["test_acc"],
        "numpy_peak_rss_mb": rows[-1]["numpy"]["peak_rss_mb"],
    }
    if proc:
        summary.update({
            "torch_s_per_epoch_median": statistics.median(r["torch"]["train_s"] for r in rows),
            "torch_cpu_s_per_epoch_median": statistics.median(r["torch"]["train_cpu_s"] for r in rows),
            "torch_test_acc": rows[-1]["torch"]["test_acc"],
            "torch_peak_rss_mb": rows[-1]["torch"]["peak_rss_mb"],
            "ratio_median": statistics.median(r["numpy"]["train_s"] / r["torch"]["train_s"] for r in rows),
            # noise only ever adds time: the fastest epochs are the best estimate of a quiet machine
            "numpy_s_fastest_epoch": min(r["numpy"]["train_s"] for r in rows),
            "torch_s_fastest_epoch": min(r["torch"]["train_s"] for r in rows),
            "ratio_fastest_epochs": min(r["numpy"]["train_s"] for r in rows) / min(r["torch"]["train_s"] for r in rows),
            "cpu_ratio_median": statistics.median(
                r["numpy"]["train_cpu_s"] / r["torch"]["train_cpu_s"] for r in rows),
        })
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"as_folder": None, "json": None},
                                         "epochs": rows, "summary": summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
