"""Trainer callbacks that keep a run safe and its record complete: the loss log as it happens, and clean
stops on NaN loss, Ctrl-C/SIGTERM and a disk too full for the next checkpoint."""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from transformers import TrainerCallback


class JsonlLossLog(TrainerCallback):
    """Appends each logged step to train_log.jsonl as it happens (a crash keeps the curve so far): the
    training loss rows, and the validation rows (`eval_*` keys, no `loss`) of the in-training validation."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if "loss" not in logs and not any(k.startswith("eval_") for k in logs):
            return  # e.g. the end-of-training summary (train_runtime, ...)
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


class NanGuard(TrainerCallback):
    """Stops training when the loss goes NaN/inf, instead of saving a broken adapter."""

    def __init__(self):
        self.bad_step: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.bad_step = state.global_step
            control.should_training_stop = True
            control.should_save = False


class StopOnSignal(TrainerCallback):
    """SIGINT/SIGTERM during training: finish the current step, save a checkpoint, stop cleanly."""

    def __init__(self):
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @contextmanager
    def installed(self):
        """The handlers in place for the `with` block (training), the previous ones restored after it."""
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal = signum
        print(f"\n[physlora] got {signal.Signals(signum).name}: saving a checkpoint after this step ...", flush=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.signal is not None:
            control.should_save = True
            control.should_training_stop = True


class DiskGuard(TrainerCallback):
    """Stops before a checkpoint save that would not fit on the disk (a half-written checkpoint
    is worse than none)."""

    def __init__(self, folder: Path, need_bytes: int):
        self.folder, self.need_bytes = folder, need_bytes
        self.short: tuple[int, int] | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save or state.global_step % args.save_steps == 0:
            free = shutil.disk_usage(self.folder).free
            if free < self.need_bytes:
                self.short = (free, self.need_bytes)
                control.should_save = False
                control.should_training_stop = True
