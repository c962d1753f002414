"""The checkpointed training loop the encoder, the attribute inverter and the attribute classifier share.

A trainer subclasses `Training`: it builds its networks, hands them to
`track(...)`, and says what an epoch's batches are (`epoch_batches`) and what
one step does (`train_step`). The loop then gives every trainer the same
guarantees:
- resume: a checkpoint after every epoch; rerunning the same command continues
  after the last one. The run's settings are saved beside the checkpoints
  (config.json) and a rerun must match them, except for the number of epochs
  and the output folders (`config.resumable_settings`, the one rule).
- a NaN or infinite loss stops the run with one line; the last good checkpoint
  is kept.
- a progress bar per epoch, and every loss as a TensorBoard scalar.
- several workers (TF_CONFIG): every worker runs the loop and takes part in each
  checkpoint, but only the chief writes the run's files (`is_chief`); the others
  save into a temporary folder that is discarded, as tf.distribute asks.
"""
import json
import math
import os
import socket
import tempfile
import time

import keras
import tensorflow as tf

from faceinv import config as settings
from faceinv import files
from faceinv.errors import InputError, TrainingDiverged
from faceinv.progress import progress


def is_chief():
    """Whether this process writes the run's files: yes, unless TF_CONFIG makes it a
    worker of a cluster other than its chief (the 'chief' task, or worker 0 where the
    cluster names none: MultiWorkerMirroredStrategy's rule)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    if not task or task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 \
        and "chief" not in tf_config.get("cluster", {})


def check_resume(checkpoint_dir, config):
    """Refuse to resume checkpoints written under other settings; save them otherwise
    (the chief saves them; the other workers only check)."""
    path = os.path.join(checkpoint_dir, settings.CONFIG_FILE)
    now = settings.resumable_settings(config)
    if os.path.exists(path):
        saved = files.load_json(path)
        differ = [k for k in now if k in saved and saved[k] != now[k]]
        if differ:
            raise InputError(f"{checkpoint_dir} holds a run with other settings "
                             f"({', '.join(f'{k}={saved[k]!r}' for k in differ)}): "
                             "give this run another name, or delete those checkpoints")
    if is_chief():
        settings.write(checkpoint_dir, config)


def local_worker_configs(count):
    """TF_CONFIG values for `count` worker processes on this machine (free loopback ports):
    how the two-worker test and benchmark start a cluster without a second machine."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(count)]


class Training:
    """The loop; subclasses provide `epoch_batches(epoch)` and a compiled `step(*batch)`
    (or their own `train_step(phase, batch)`)."""
    shown = ("loss",)  # the losses the progress bar shows

    def __init__(self, config, checkpoint_dir, log_dir):
        check_resume(checkpoint_dir, config)
        self.config, self.checkpoint_dir, self.log_dir = config, checkpoint_dir, log_dir

    def track(self, **objects):
        """Checkpoint these networks and optimisers; restore the latest checkpoint if there
        is one. Returns whether it resumed."""
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(epoch=self.epoch, **objects)
        latest = tf.train.latest_checkpoint(self.checkpoint_dir)
        if is_chief():
            folder = self.checkpoint_dir
        else:  # a worker saves too (tf.distribute needs every worker), into a folder it discards
            self._scratch = tempfile.TemporaryDirectory(prefix="faceinv-worker-")
            folder = self._scratch.name
        self.manager = tf.train.CheckpointManager(self.checkpoint, folder, max_to_keep=3)
        if not latest:
            return False
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"resuming from {latest} (epoch {self.epochs_done} done)")
        return True

    @property
    def epochs_done(self):
        return int(self.epoch.numpy())

    def epoch_batches(self, epoch):
        """(phase name, iterable of batches, number of batches) of one epoch; the phase
        prefixes the TensorBoard tags ("loss" where a trainer has a single phase)."""
        raise NotImplementedError

    def train_step(self, phase, batch):
        """One optimisation step; returns its losses as scalars."""
        return self.step(*batch)

    def end_of_epoch(self, epoch, writer):
        """Called before each checkpoint (e.g. to log a preview image); may return more
        figures for the epoch's history record."""

    def fit(self, epochs=None):
        """Train up to `epochs` (default: the config's) epochs in all; returns one record of mean
        losses per epoch run."""
        epochs = epochs or self.config.epochs
        writer = tf.summary.create_file_writer(self.log_dir) if is_chief() else tf.summary.create_noop_writer()
        history = []
        for epoch in range(self.epochs_done, epochs):
            phase, batches, steps = self.epoch_batches(epoch)
            print(f"epoch {epoch + 1}/{epochs}" + ("" if phase == "loss" else f" ({phase} faces)"))
            bar, sums, started = progress(steps, unit="step"), {}, time.perf_counter()
            for step, batch in enumerate(batches):
                values = {k: float(v) for k, v in self.train_step(phase, batch).items()}
                if not all(map(math.isfinite, values.values())):
                    kept = self.manager.latest_checkpoint or "none yet"
                    raise TrainingDiverged(
                        f"a loss became non-finite at epoch {epoch + 1}, step {step + 1} "
                        f"({', '.join(f'{k} {v:.4g}' for k, v in values.items())}); the last good "
                        f"checkpoint ({kept}) is intact: lower the learning rate or check the data, "
                        "then rerun to resume from it")
                with writer.as_default(step=epoch * steps + step):
                    for key, value in values.items():
                        tf.summary.scalar(f"{phase}/{key}", value)
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + value
                bar.update(step + 1, values=[(k, values[k]) for k in self.shown if k in values])
            history.append({"epoch": epoch + 1, "phase": phase,
                            **{k: v / max(steps, 1) for k, v in sums.items()},
                            "seconds": time.perf_counter() - started})
            history[-1].update(self.end_of_epoch(epoch, writer) or {})
            self.epoch.assign(epoch + 1)
            self.manager.save(checkpoint_number=epoch + 1)
            writer.flush()
        return history


def adam(learning_rate, beta1, variables):
    """Adam, built for `variables` so that a checkpoint can restore its slots before the first step."""
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta1)
    optimizer.build(variables)
    return optimizer
