"""Pivotal tuning (Roich et al. 2021): a copy of the generator fitted to one photo.

A real photograph lies outside what the DCGAN draws, so its inversion keeps
the pose and colouring but not the person. Tuning moves the generator instead
of the latent: a copy of the generator's weights is fine-tuned so that the
pivot (the hybrid's latent) renders the aligned photo, with the pixel loss.
The shared generator is never touched; every photo gets its own copy.

Tuning every weight to one face also changes what the generator draws away
from the pivot: an edit of the tuned face keeps less of the person (plain
tuning) or less of the edit (PTI's locality term). So tuning runs in two
phases: plain steps of the pixel loss at the pivot, then edit-aware steps.
Each of these also draws an edit of the pivot along each boundary the visitor
edits along, and asks that it render its target (pixel by pixel): the photo,
bent so that its landmarks move as the untuned generator's do at that edit,
plus the untuned edit's change that the bending does not explain (a mouth
opening), carried onto the photo's landmarks. One of the edited faces, the
boundaries in turn, must also keep the photo's FaceNet identity.
PTI's locality term and tuning only the last layers are flags too;
docs/photos.md measures the locality term against the defaults.

A tuned generator is written as its difference from the untuned one, in
float16, in a weights file that cannot run code (faceinv/models/weights_file.py),
and is refused by a generator other than its own.
"""
import dataclasses
import functools
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from faceinv.config import setting
from faceinv.data.alignment import FaceDetector, render_landmarks, thin_plate_warp
from faceinv.errors import InputError
from faceinv.models import weights_file

TUNE_STEPS, TUNE_LR = 100, 3e-4
TUNE_LAYERS = 5                 # layers tuned, counted from the output; the DCGAN has 5
LOCALITY_WEIGHT, LOCALITY_RADIUS = 0.0, 2.0
EDIT_STEPS = 100                # edit-aware steps after the plain ones
IDENTITY_WEIGHT, STRUCTURE_WEIGHT = 0.006, 1.0
EDIT_RANGE = 3.0                # edits are drawn up to this far along a boundary: the page's slider range
EDIT_STEP = 0.5                 # ... at multiples of this
STRUCTURE_POOL = 1              # the structure term compares faces averaged over blocks of this many pixels
TUNE_SEED = 0                   # seeds the edits (and locality samples) each step draws
KIND = "tuned-generator"
DIFF_DTYPE = np.float16


def tunable(generator):
    """Whether the generator's weights are a Keras model this module can copy and tune."""
    return isinstance(getattr(generator, "model", None), keras.Model) and hasattr(generator, "with_model")


def check_tunable(generator):
    if not tunable(generator):
        raise InputError(f"{generator.label} cannot be tuned: its weights are not a Keras model here "
                         "(a TF-Hub module is a fixed signature); run with --tune 0")


def _weighted_layers(model):
    """The model's layers that hold weights, input to output; a batch norm counts with the
    convolution before it."""
    groups = []
    for layer in model.layers:
        if not layer.weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization) and groups:
            groups[-1].append(layer)
        else:
            groups.append([layer])
    return groups


def _copy(model):
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def _tuned_variables(model, layers):
    groups = _weighted_layers(model)
    if not 1 <= layers <= len(groups):
        raise InputError(f"--tune-layers must be between 1 and {len(groups)}, not {layers}")
    model.trainable = True
    chosen = [layer for group in groups[-layers:] for layer in group]
    for layer in model.layers:
        layer.trainable = layer in chosen
    return model.trainable_variables


@dataclasses.dataclass
class TuneSettings:
    steps: int = TUNE_STEPS
    learning_rate: float = TUNE_LR
    layers: int = TUNE_LAYERS
    locality_weight: float = LOCALITY_WEIGHT
    locality_radius: float = LOCALITY_RADIUS
    edit_steps: int = EDIT_STEPS
    identity_weight: float = IDENTITY_WEIGHT
    structure_weight: float = STRUCTURE_WEIGHT
    edit_range: float = EDIT_RANGE
    structure_pool: int = STRUCTURE_POOL
    seed: int = TUNE_SEED

    def check(self):
        if self.steps < 0 or self.edit_steps < 0:
            raise InputError(f"--tune must be 0 (off) or a positive number of steps, not {self.steps}, "
                             f"and --tune-edit-steps 0 or more, not {self.edit_steps}")
        if not self.learning_rate > 0:
            raise InputError(f"--tune-lr must be positive, not {self.learning_rate}")
        if min(self.locality_weight, self.locality_radius, self.identity_weight, self.structure_weight,
               self.edit_range) < 0:
            raise InputError("the tuning weights, radius and edit range must be >= 0")
        if self.structure_pool < 1:
            raise InputError(f"--structure-pool must be at least 1, not {self.structure_pool}")
        return self

    @property
    def edit_aware(self):
        return self.edit_steps > 0 and (self.identity_weight > 0 or self.structure_weight > 0)

    def total_steps(self, directions):
        """The plain steps, and the edit-aware ones where there are boundaries to edit along."""
        has_directions = directions is not None and len(directions) > 0
        return self.steps + (self.edit_steps if self.edit_aware and has_directions else 0)


@dataclasses.dataclass
class TuneOptions:
    """The tuning flags of every script that tunes (invert_photo.py, demo.py, bench_photos.py)."""
    tune: int = setting(None, f"generator tuning steps after the inversion, 0 for none (default: {TUNE_STEPS} "
                              "where the generator can be tuned)", type=int)
    tune_lr: float = setting(TUNE_LR, "tuning's Adam learning rate")
    tune_layers: int = setting(TUNE_LAYERS, "layers tuned, counted from the output")
    locality_weight: float = setting(LOCALITY_WEIGHT, "weight of PTI's locality term (0: none)")
    locality_radius: float = setting(LOCALITY_RADIUS, "distance from the pivot of its samples")
    tune_edit_steps: int = setting(EDIT_STEPS, "edit-aware tuning steps after --tune's, 0 for none")
    identity_weight: float = setting(IDENTITY_WEIGHT, "edit-aware tuning: weight of the photo's FaceNet identity "
                                                      "on edited faces")
    structure_weight: float = setting(STRUCTURE_WEIGHT, "edit-aware tuning: weight of the edited faces' "
                                                        "structure, the photo's moved as the untuned generator moves it")
    structure_pool: int = setting(STRUCTURE_POOL, "edit-aware tuning: the structure's block size, in pixels "
                                                  "(1: pixel by pixel)")
    edit_range: float = setting(EDIT_RANGE, "edit-aware tuning: edits up to this far along each boundary")
    tune_seed: int = setting(TUNE_SEED, "seed of the edits (and locality samples) each tuning step draws")

    def tune_settings(self, generator=None):
        """The settings these flags give; without --tune, TUNE_STEPS where `generator` can be tuned, else 0."""
        steps = self.tune
        if steps is None:
            steps = TUNE_STEPS if generator is None or tunable(generator) else 0
        return TuneSettings(steps=steps, learning_rate=self.tune_lr, layers=self.tune_layers,
                            locality_weight=self.locality_weight, locality_radius=self.locality_radius,
                            edit_steps=self.tune_edit_steps, identity_weight=self.identity_weight,
                            structure_weight=self.structure_weight, structure_pool=self.structure_pool,
                            edit_range=self.edit_range, seed=self.tune_seed).check()


@dataclasses.dataclass
class Tuning:
    generator: object       # the tuned copy: the same interface as the generator
    losses: np.ndarray      # [steps] the pixel loss (MAE) at the pivot before each step
    seconds: float


def tune_generator(generator, face, pivot, settings=TuneSettings(), on_step=None, directions=None, facenet=None,
                   detector=None):
    """Fit a copy of `generator` so that `pivot` [1, latent_dim] renders `face` [R, R, 3] in [0, 1].
    With settings.edit_aware, settings.edit_steps more steps follow, each of which also draws
    an edit of the pivot along each of `directions` [K, latent_dim] (the boundaries the visitor
    edits along; edit_targets gives the edits and their target faces), and asks that their
    structure (means over blocks of settings.structure_pool pixels; 1 by default) be their targets'
    and that one of them, the directions in turn, keep the photo's FaceNet identity (`facenet`).
    `on_step(step, tuned)` is called after every step; the shared generator is left as it was."""
    settings.check()
    check_tunable(generator)
    face = np.asarray(face, np.float32)
    if face.shape != (generator.resolution, generator.resolution, 3):
        raise InputError(f"the face to tune to is {face.shape}, the generator draws "
                         f"{(generator.resolution,) * 2 + (3,)}")
    if settings.edit_aware and (directions is None or not len(directions)):
        print("no boundaries to edit along: the edit-aware tuning steps are skipped")
        settings = dataclasses.replace(settings, edit_steps=0)
    with_identity = settings.edit_aware and settings.identity_weight > 0
    if with_identity and facenet is None:
        raise InputError("tuning with an identity weight needs a FaceNet")
    steps = _tuning_steps(generator, facenet if with_identity else None, settings.layers, settings.locality_weight,
                          settings.identity_weight, settings.structure_weight, settings.structure_pool)
    with steps.lock:
        start = time.perf_counter()
        steps.reset(settings.learning_rate)
        target = tf.constant(face[None])
        pivot = tf.constant(np.asarray(pivot, np.float32).reshape(1, -1))
        identity = facenet(target)[1] if with_identity else tf.zeros((1, 1))
        rng = np.random.default_rng(settings.seed)
        edits = EditTargets.empty(face, pivot.numpy())
        if settings.edit_aware:
            found = edit_targets(generator, face, pivot.numpy(), directions, settings.edit_range, detector)
            if len(found.latents):
                edits = found
            else:
                print("MTCNN found no landmarks on the photo or its edits: the edit-aware tuning steps are skipped")
                settings = dataclasses.replace(settings, edit_steps=0)
        losses = np.zeros(settings.total_steps(directions), np.float32)
        for i in range(len(losses)):
            picks = edits.draw(rng)
            edited, wanted = tf.constant(edits.latents[picks]), tf.constant(edits.faces[picks])
            nearby = tf.constant(_nearby(rng, pivot.numpy(), settings.locality_radius))
            step = steps.plain if i < settings.steps else steps.edit_aware
            losses[i] = float(step(target, pivot, identity, nearby, edited, wanted, tf.constant(i % len(picks))))
            if on_step is not None:
                on_step(i + 1, steps.tuned)
        tuned = _tuned_copy(generator, _copy(steps.model))
        tuned.model.trainable = False
        return Tuning(tuned, losses, time.perf_counter() - start)


class _TuningSteps:
    """A working copy of the generator, its Adam state and the traced tuning steps. One is kept
    for each generator, FaceNet and set of loss weights, and every photo starts it afresh from
    the generator's weights: the photos after the first reuse the traces (compiling the plain
    step takes about 2 s, tracing FaceNet's step about 5 s). Photos take turns (`lock`)."""

    def __init__(self, generator, facenet, layers, locality_weight, identity_weight, structure_weight,
                 structure_pool):
        self.generator, self.lock = generator, threading.Lock()
        self.model = _copy(generator.model)
        self.variables = _tuned_variables(self.model, layers)
        self.tuned = _tuned_copy(generator, self.model)
        self.optimizer = keras.optimizers.Adam()
        self.optimizer.build(self.variables)
        tuned = self.tuned

        def blocks(images):
            return tf.nn.avg_pool2d(images, structure_pool, structure_pool, "VALID")

        def step(target, pivot, identity, nearby, edited, wanted, seen, edit_aware):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.abs(tuned._forward(pivot) - target))
                total = loss
                if locality_weight > 0:
                    drift = tf.reduce_mean(tf.abs(tuned._forward(nearby) - generator._forward(nearby)))
                    total += locality_weight * drift
                if edit_aware:
                    faces = tuned._forward(edited)
                    if facenet is not None:  # one edited face a step, the directions in turn: FaceNet costs most
                        kept = tf.reduce_sum(facenet(faces[seen:seen + 1])[1] * identity)
                        total += identity_weight * (1.0 - kept)
                    if structure_weight > 0:
                        total += structure_weight * tf.reduce_mean(tf.abs(blocks(faces) - blocks(wanted)))
            self.optimizer.apply_gradients(zip(tape.gradient(total, self.variables), self.variables))
            return loss

        self.plain = tf.function(lambda *args: step(*args, edit_aware=False), jit_compile=True)
        # With FaceNet inside, XLA's compilation costs more than it saves.
        self.edit_aware = tf.function(lambda *args: step(*args, edit_aware=True), jit_compile=facenet is None)

    def reset(self, learning_rate):
        """The generator's weights again, and a fresh Adam at `learning_rate`."""
        for mine, its in zip(self.model.weights, self.generator.model.weights):
            mine.assign(its)
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        self.optimizer.learning_rate = learning_rate


@functools.lru_cache(maxsize=4)
def _tuning_steps(generator, facenet, *weights):
    return _TuningSteps(generator, facenet, *weights)


@dataclasses.dataclass
class EditTargets:
    latents: np.ndarray     # [M, latent_dim] edits of the pivot
    faces: np.ndarray       # [M, R, R, 3] the face each should render
    directions: np.ndarray  # [M] which direction each moves along

    @classmethod
    def empty(cls, face, pivot):
        """One placeholder (the pivot and the photo) for the steps that draw no edit."""
        return cls(np.asarray(pivot, np.float32).reshape(1, -1), np.asarray(face, np.float32)[None], np.zeros(1, int))

    def draw(self, rng):
        """One edit along each direction, at random: indices into latents and faces."""
        return np.array([rng.choice(np.flatnonzero(self.directions == k)) for k in np.unique(self.directions)])


def edit_targets(generator, face, pivot, directions, edit_range, detector=None):
    """The edits the edit-aware steps draw, every EDIT_STEP along each direction up to
    `edit_range` either way, and the face each should render: the photo, bent by a
    thin-plate spline so that its five landmarks and its face box move as the untuned
    generator's move from its face at the pivot to its face at the edit, plus the part of
    the untuned edit that this bending does not explain, bent onto the photo's landmarks
    likewise. Edits where MTCNN finds no face are left out; none at all where it finds
    none in the photo or at the pivot."""
    detector = detector or FaceDetector()
    pivot = np.asarray(pivot, np.float32).reshape(1, -1)
    photo_points = render_landmarks(detector, face, outline=True)
    plain = np.asarray(generator(pivot))[0]
    plain_points = render_landmarks(detector, plain, outline=True)
    alphas = np.arange(EDIT_STEP, edit_range + 1e-6, EDIT_STEP)
    alphas = np.concatenate([-alphas[::-1], alphas]).astype(np.float32)
    directions = np.asarray(directions, np.float32).reshape(-1, pivot.shape[1])
    latents = (pivot + alphas[None, :, None] * directions[:, None]).reshape(-1, pivot.shape[1])
    which = np.repeat(np.arange(len(directions)), len(alphas))
    if photo_points is None or plain_points is None:
        latents, which = latents[:0], which[:0]
    kept, faces = [], []
    for index, render in enumerate(np.asarray(generator(latents))):
        points = render_landmarks(detector, render, outline=True)
        if points is not None:
            kept.append(index)
            wanted = photo_points + points - plain_points
            moved = thin_plate_warp(face, photo_points, wanted)
            # What the warp cannot say (a mouth opening, teeth): the untuned edit's own
            # change, left after bending the untuned pivot face the same way, and carried
            # from the untuned face's landmarks onto the photo's, so that it lands on the
            # photo's mouth and not beside it.
            unexplained = thin_plate_warp(render - thin_plate_warp(plain, plain_points, points), points, wanted)
            faces.append(np.clip(moved + unexplained, 0.0, 1.0))
    return EditTargets(latents[kept], np.asarray(faces, np.float32).reshape((-1,) + face.shape), which[kept])


def _nearby(rng, pivot, radius, count=1):
    """PTI's locality samples: latents `radius` from the pivot, towards random ones."""
    away = rng.standard_normal((count, pivot.shape[1])).astype(np.float32) - pivot
    return pivot + radius * away / np.linalg.norm(away, axis=1, keepdims=True)


def _tuned_copy(generator, model):
    tuned = generator.with_model(model)
    tuned.untuned = generator
    tuned.label = f"{generator.label}, tuned to one photo"
    return tuned


def save_tuned(path, tuned, record):
    """Write a tuned generator as float16 differences from its untuned weights (only the
    tuned variables); `record` (the photo, the pivot, the settings) goes in its settings.
    Returns the SHA-256."""
    untuned = tuned.untuned
    diffs = {}
    for before, after in zip(untuned.model.weights, tuned.model.weights):
        change = np.asarray(after) - np.asarray(before)
        if np.any(change):
            diffs[before.path] = change.astype(DIFF_DTYPE)
    meta = dict(record, kind=KIND, generator=untuned.handle, generator_label=untuned.label)
    return weights_file.write(path, diffs, meta)


def load_tuned(path, generator):
    """The tuned copy of `generator` a file written by save_tuned describes; a file tuned
    for another generator is refused. Returns (tuned generator, the file's settings)."""
    arrays, meta = weights_file.read(path)
    if meta.get("kind") != KIND:
        raise InputError(f"{path} is not a tuned generator (it is {meta.get('kind', 'an unknown kind')})")
    if meta.get("generator") != generator.handle:
        raise InputError(f"{path} was tuned for the generator {meta.get('generator')}, not {generator.handle}")
    check_tunable(generator)
    model = _copy(generator.model)
    by_path = {v.path: (v, twin) for v, twin in zip(generator.model.weights, model.weights)}
    unknown = sorted(set(arrays) - set(by_path))
    if unknown:
        raise InputError(f"{path} changes {unknown[0]}, which {generator.handle} does not have")
    for name, change in arrays.items():
        before, twin = by_path[name]
        if change.shape != tuple(before.shape) or not np.all(np.isfinite(change)):
            raise InputError(f"{path}: {name} has shape {change.shape} or non-finite values; "
                             f"the generator's is {tuple(before.shape)}")
        twin.assign(np.asarray(before) + change.astype(np.float32))
    model.trainable = False
    return _tuned_copy(generator, model), meta
