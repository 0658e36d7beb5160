"""The running half of ``cnnconv train``: progress, the epoch loop's reports, saving and how it ended.

Also what ``evaluate`` shares with ``train``: the decoding progress bar and the skipped-file warnings.
Only click and the standard library are imported at module level.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from cnnconv.cli._common import EXIT_INTERRUPTED, CliError, say
from cnnconv.cli._options import MaxPixelsType
from cnnconv.io.formats import DEFAULT_MAX_PIXELS


class Interrupted(CliError):
    """A signal ended the run: one ``cnnconv: interrupted...`` line, exit 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int = EXIT_INTERRUPTED):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"cnnconv: {self.format_message()}", err=True)


@dataclass(frozen=True)
class Run:
    """Everything prepared before the first epoch: the data, the network, where it goes."""

    data: object
    network: object
    output: Path
    resume: Path | None
    console: object
    as_json: bool
    data_dir: Path
    history: tuple = ()
    optimizer_state: dict | None = None


def max_pixels_option(f):
    """``--max-pixels N|none`` for the commands that decode data sets or images for a model."""
    return click.option("--max-pixels", type=MaxPixelsType(), default=None,
                        help="Images over N pixels are skipped (a data set) or refused (predict) undecoded, "
                             f"against decompression bombs (default {DEFAULT_MAX_PIXELS}; 'none' = no limit).")(f)


def pixel_limit(value: int | None) -> int | None:
    """The limit for ``read_image`` from ``--max-pixels``: its default when not given, None for 'none'."""
    return DEFAULT_MAX_PIXELS if value is None else (value or None)


def decode_progress(console, what: str):
    """A context manager yielding a ``progress(done, total)`` callback (a bar only on a terminal)."""

    @contextmanager
    def bar():
        if not console.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task(what, total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            yield update

    return bar()


def warn_skipped(skipped, console) -> None:
    for path, reason in skipped:
        say(console, "warning", f"skipped {path}: {reason}")
    if skipped:
        say(console, "warning", f"{len(skipped)} file(s) could not be read and were skipped")


def fit_and_report(run: Run, options, stop):
    """Train (``options`` a ``FitOptions``), drawing a bar per epoch on a terminal and printing
    one line per epoch. ``stop`` is the :class:`~cnnconv.cli._signals.StopRequest` that
    ``fit`` polls: a signal ends the run through it, with the best model so far kept by ``fit``."""
    from cnnconv.io.dataset import standardise
    from cnnconv.nn.train import Resume, fit

    data, console = run.data, run.console
    x_train = standardise(data.x_train, data.mean, data.std)
    x_val = standardise(data.x_val, data.mean, data.std)
    bar = _EpochBar(console, options.epochs + len(run.history))

    def on_epoch(stats):
        bar.close()
        if not run.as_json:
            click.echo(epoch_line(stats, bar.total))

    resume = Resume(tuple(run.history), run.optimizer_state or {})
    try:
        return fit(run.network, x_train, data.y_train, x_val, data.y_val, options,
                   on_batch=bar.update, on_epoch=on_epoch, resume=resume, stop=stop.event)
    finally:
        bar.close()


class _EpochBar:
    """The progress bar of the epoch being trained (only on a terminal)."""

    def __init__(self, console, total: int) -> None:
        self.console, self.total, self.progress, self.task = console, total, None, None

    def update(self, epoch, i, n_batches, running_loss) -> None:
        if not self.console.is_terminal:
            return
        if self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn(f"epoch {epoch}/{self.total}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                                     console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("", total=n_batches, loss="-")
        self.progress.update(self.task, completed=i + 1, loss=f"{running_loss:.4f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def epoch_line(stats, total: int) -> str:
    """``epoch  3/10  loss 0.4120  train  88.1%  val  90.0%  2.1 s  1450 img/s``."""
    val = stats.get("val_acc")
    val_text = f"val {val:6.1%}" if val is not None else "val      -"
    return (f"epoch {stats['epoch']:>{len(str(total))}}/{total}  loss {stats['loss']:.4f}  train {stats['train_acc']:6.1%}  "
            f"{val_text}  {stats['seconds']:5.1f} s  {stats['images_per_s']:6.0f} img/s")


def finish(run: Run, result, options, stop, *, plots) -> None:
    """Save the best weights (or the last good ones), write plots, report how it ended.

    Called inside the same :func:`~cnnconv.cli._signals.stop_requests` block as the
    training, so a signal during the save is only noted: the model is written whole.
    """
    history = list(result.history)
    new_epochs = len(history) - len(run.history)
    if result.stopped == "interrupted" and new_epochs == 0:
        raise Interrupted(f"{stop.what} before the first epoch ended: nothing learned, no model saved", stop.exit_code)
    if result.stopped == "nan" and new_epochs == 0:
        raise CliError(f"the loss became NaN or infinite in epoch {len(history) + 1} (learning rate {options.lr:g}): "
                       "no epoch finished with a finite loss; nothing saved (try a smaller --lr)")
    written = _save(run, result, options, history, plots)
    stopped = "interrupted" if stop.requested else result.stopped
    data, network = run.data, run.network
    if run.as_json:
        click.echo(_dumps({
            "ok": stopped in ("completed", "early"), "model": str(run.output), "stopped": stopped,
            "best_epoch": result.best_epoch, "classes": data.class_names, "input_shape": list(network.input_shape),
            "spec": network.spec, "train_images": len(data.y_train), "val_images": len(data.y_val),
            "validation": data.validation, "history": history, "plots": [str(p) for p in written],
            "skipped": [{"file": f, "reason": r} for f, r in data.skipped],
        }))
    best = _describe_best(history, result.best_epoch)
    if result.stopped == "nan":
        raise CliError(f"the loss became NaN or infinite in epoch {len(history) + 1} (learning rate {options.lr:g}; "
                       f"try a smaller --lr); kept the last good model in {run.output} ({best})")
    if stopped == "interrupted":
        raise Interrupted(f"{stop.what}: saved the best model so far to {run.output} ({best})", stop.exit_code)
    early = (f"stopped early: no better validation accuracy for {options.patience} epochs; "
             if result.stopped == "early" else "")
    message = f"{early}saved {run.output}: best {best}"
    if run.as_json:  # stdout holds the JSON document: the summary goes to stderr as a note
        say(run.console, "note", message)
        return
    click.echo(message)
    for path in written:
        click.echo(f"wrote {path}")


def _save(run: Run, result, options, history: list, plots) -> list:
    """Write the model (the best weights) and, unless Ctrl-C came during that, the plots."""
    from cnnconv.io.model import save_model
    from cnnconv.io.plots import save_training_plots

    network, data = run.network, run.data
    network.load_state(result.best_state)
    meta = dict(class_names=data.class_names, channels=data.channels, mean=data.mean, std=data.std,
                history=history, optimizer_state=result.optimizer_state,
                training=dict(dataclasses.asdict(options), data_dir=str(run.data_dir), validation=data.validation,
                              train_images=len(data.y_train), val_images=len(data.y_val),
                              best_epoch=result.best_epoch, stopped=result.stopped))
    save_model(run.output, network, meta)
    return save_training_plots(plots, network, history) if plots is not None else []


def _describe_best(history, best_epoch: int) -> str:
    entry = next((h for h in history if h["epoch"] == best_epoch), None)
    if entry is None:
        return "the starting weights, from before the first epoch"
    if entry.get("val_acc") is None:
        return f"epoch {best_epoch}"
    return f"epoch {best_epoch}, validation accuracy {entry['val_acc']:.1%}"


def _dumps(value) -> str:
    """Strict JSON (:func:`cnnconv.io.numbers.dumps`: a NaN is null and a field says why)."""
    from cnnconv.io.numbers import dumps

    return dumps(value)
