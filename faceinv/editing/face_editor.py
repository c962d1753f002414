"""What the web page (demo.py) does with a face, on the same functions the scripts use.

A photo is aligned with MTCNN onto the generator's framing, inverted as the
comparison's hybrid does it (the encoder's guess, then Adam steps on the pixel
loss; Adam from a random start where no encoder exists), and its latent is
moved along InterFaceGAN boundaries (each slider one attribute; conditional
editing projects the others out), interpolated to a second face, or handed to
the attribute inverter to add or remove eyeglasses. A copy of the generator
can be tuned to the face at its latent (pivotal tuning,
faceinv/inversion/tuning.py); edits then render through that copy. The
networks are loaded once; every call takes and returns its own arrays, and a
tuned copy is held in a store under a key (`TunedGenerators`), so visitors
share nothing but the untuned weights.
"""
import collections
import dataclasses
import queue
import threading
import time
import uuid

import numpy as np
from PIL import Image

from faceinv import files
from faceinv.data.alignment import MIN_FACE_SIZE, FaceDetector
from faceinv.editing.edits import conditional_direction
from faceinv.errors import InputError
from faceinv.inversion import tuning
from faceinv.inversion.gradient_recovery import INIT_SEED, ImageLoss, recover_latents
from faceinv.inversion.interpolation import slerp
from faceinv.models.generators import sample_latents

MAX_SIDE = 2048       # larger photos are downscaled first: MTCNN and the warp need no more
SNAPSHOTS = 8         # pictures of the refinement (and of the tuning) shown as it runs
# A tuned DCGAN is a 14 MB copy of its weights: the store holds a few, and drops those left unused.
MAX_TUNED = 4
TUNED_EXPIRY_S = 30 * 60


@dataclasses.dataclass
class Inversion:
    aligned: np.ndarray          # [R, R, 3] in [0, 1]: the face as the generator frames it
    latent: np.ndarray           # [1, latent_dim]
    reconstruction: np.ndarray   # [R, R, 3]: the generator's face for the latent
    similarity: float            # FaceNet cosine of the aligned face and the reconstruction
    seconds: float
    how: str                     # "encoder + Adam" or "Adam"
    notes: list                  # what the visitor should know (downscaled, several faces)


@dataclasses.dataclass
class Tuned:
    key: str                     # where the store holds the tuned generator
    generator: object            # the tuned copy: called as the generator is
    reconstruction: np.ndarray   # [R, R, 3]: its face at the pivot
    faces: np.ndarray            # [2, R, R, 3]: the untuned and the tuned generator's faces at the pivot
    similarity: tuple            # (untuned, tuned) FaceNet cosine with the aligned face
    seconds: float


class TunedGenerators:
    """The visitors' tuned generators by key: a visitor's page state holds only the key. The
    least recently used is dropped when more than `cap` are held, and any unused for
    `expiry_s`, so visitors who leave do not keep their copies in memory."""

    def __init__(self, cap=MAX_TUNED, expiry_s=TUNED_EXPIRY_S):
        if cap < 1 or expiry_s < 0:
            raise InputError(f"the tuned generators' store needs a cap >= 1 and an expiry >= 0, not {cap}, {expiry_s}")
        self.cap, self.expiry_s = cap, expiry_s
        self._held = collections.OrderedDict()  # key -> (generator, when last used), least recent first
        self._lock = threading.Lock()           # visitors' handlers run on several threads

    def add(self, generator):
        key = uuid.uuid4().hex
        with self._lock:
            self._held[key] = (generator, time.monotonic())
            self._drop_unused()
            while len(self._held) > self.cap:
                self._held.popitem(last=False)
        return key

    def get(self, key):
        """The generator held under `key`, or None where it was dropped."""
        with self._lock:
            self._drop_unused()
            if key not in self._held:
                return None
            generator, _ = self._held.pop(key)
            self._held[key] = (generator, time.monotonic())
            return generator

    def discard(self, key):
        with self._lock:
            self._held.pop(key, None)

    def _drop_unused(self):
        now = time.monotonic()
        for key in [key for key, (_, used) in self._held.items() if now - used >= self.expiry_s]:
            del self._held[key]


def _in_background(work):
    """Run work(report) in a thread, yielding what it reports as it runs, and return its result.
    The visitor's page shows the pictures while the work goes on; an error in the thread is
    raised here, in the visitor's."""
    reports, result = queue.Queue(), {}

    def run():
        try:
            result["value"] = work(reports.put)
        except Exception as error:  # handed to the visitor's thread below
            result["error"] = error
        reports.put(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    yield from iter(reports.get, None)
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


class FaceEditor:
    """The networks of one page. `encoder`, `boundaries` (name -> unit normal) and
    `inverter` may be None, and `tune_settings` None or 0 steps (no tuning). `max_tuned`
    and `tuned_expiry_s` bound the store of tuned generators."""

    def __init__(self, generator, facenet, encoder, steps, learning_rate, boundaries=None, inverter=None,
                 min_face_size=MIN_FACE_SIZE, tune_settings=None, max_tuned=MAX_TUNED, tuned_expiry_s=TUNED_EXPIRY_S):
        self.generator, self.facenet, self.encoder, self.inverter = generator, facenet, encoder, inverter
        self.steps, self.learning_rate = steps, learning_rate
        self.boundaries = boundaries or {}
        self.tune_settings = tune_settings
        self.tuned = TunedGenerators(max_tuned, tuned_expiry_s)
        self.detector = FaceDetector(min_face_size)
        self._lock = threading.Lock()  # MTCNN's Keras models are called by one visitor at a time

    @property
    def tune_steps(self):
        """Every step a tuning here takes: the plain ones, then the edit-aware ones along the sliders."""
        return self.tune_settings.total_steps(list(self.boundaries.values()))

    @property
    def can_tune(self):
        return bool(self.tune_settings and self.tune_settings.steps > 0 and tuning.tunable(self.generator))

    def prepare(self, image):
        """Face 0 of a uint8 RGB photo (the largest, as invert_photo.py picks it), aligned;
        and notes for the visitor."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"the photo must be an RGB image, not an array of shape {image.shape}")
        notes = []
        if max(image.shape[:2]) > MAX_SIDE:
            factor = MAX_SIDE / max(image.shape[:2])
            size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
            notes.append(f"the photo ({image.shape[1]}x{image.shape[0]}) was downscaled to {size[0]}x{size[1]}")
            image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
        with self._lock:
            aligned, count = self.detector.align_photo_face(image, self.generator.resolution,
                                                            self.generator.template, 0, "the photo")
        if count > 1:
            notes.append(f"{count} faces found: the largest is used")
        return aligned.astype(np.float32) / 255.0, notes

    def render(self, latent, generator=None):
        """The face of `latent` as `generator` (a tuned one) draws it, else the untuned generator."""
        return np.asarray((generator or self.generator)(np.asarray(latent, np.float32)))[0]

    def identity_similarity(self, aligned, face):
        _, embeddings = self.facenet(np.stack([aligned, face]))
        return float(np.sum(np.asarray(embeddings[0]) * np.asarray(embeddings[1])))

    def invert(self, image):
        """Yields (what, picture) while inverting: the aligned face, the encoder's guess,
        then the refinement SNAPSHOTS times as it goes; last ("done", Inversion)."""
        started = time.perf_counter()
        aligned, notes = self.prepare(image)
        yield "aligned", aligned
        if self.encoder is not None:
            initial, how = self.encoder(aligned[None]), "encoder + Adam"
            yield "encoder", self.render(initial)
        else:
            initial, how = sample_latents(1, INIT_SEED, self.generator.latent_dim), "Adam"
        every = max(1, self.steps // SNAPSHOTS)

        def optimise(report):
            def on_step(step, latents):
                if step % every == 0 and step < self.steps:
                    report((f"step {step}/{self.steps}", self.render(latents)))
            return recover_latents(self.generator, aligned[None], initial, ImageLoss({"mae": 1.0}), self.steps,
                                   self.learning_rate, seed=INIT_SEED, batch_size=1, on_step=on_step)

        recovery = yield from _in_background(optimise)
        reconstruction = recovery.images[0]
        yield "done", Inversion(aligned, recovery.latents, reconstruction,
                                self.identity_similarity(aligned, reconstruction), time.perf_counter() - started,
                                how, notes)

    def tune(self, aligned, latent):
        """Yields (what, picture) while a copy of the generator is tuned so that `latent` (the
        pivot) draws `aligned`: its face there SNAPSHOTS times as it sharpens; last ("done",
        Tuned). The copy is added to the store; the shared generator is left as it was."""
        if not self.can_tune:
            raise InputError(f"{self.generator.label} is not tuned on this page")
        started = time.perf_counter()
        steps, pivot = self.tune_steps, np.asarray(latent, np.float32)
        every = max(1, steps // SNAPSHOTS)

        def fit(report):
            def on_step(step, tuned):
                if step % every == 0 and step < steps:  # drawn here: the next step moves the weights
                    report((f"step {step}/{steps}", self.render(pivot, tuned)))
            return tuning.tune_generator(self.generator, aligned, pivot, self.tune_settings, on_step,
                                         directions=list(self.boundaries.values()), facenet=self.facenet)

        tuned = (yield from _in_background(fit)).generator
        faces = np.stack([self.render(pivot), self.render(pivot, tuned)])
        similarity = tuple(self.identity_similarity(aligned, face) for face in faces)
        yield "done", Tuned(self.tuned.add(tuned), tuned, faces[1], faces, similarity, time.perf_counter() - started)

    def edit(self, latent, amounts, conditional=False, generator=None):
        """The face of `latent` moved by amounts[name] along each boundary; with
        `conditional`, each direction has the other boundaries projected out, so
        one slider leaves the other attributes where they were. Drawn by `generator`
        (a tuned one) where given."""
        latent = np.asarray(latent, np.float32).copy()
        for name, amount in amounts.items():
            if amount:
                normal = self.boundaries[name]
                if conditional:
                    others = [n for other, n in self.boundaries.items() if other != name]
                    normal = conditional_direction(normal, others)
                latent = (latent + amount * normal).astype(np.float32)
        return latent, self.render(latent, generator)

    def interpolate(self, latent_a, latent_b, t, generator=None):
        latent = slerp(np.asarray(latent_a)[0], np.asarray(latent_b)[0], float(t))[None]
        return latent, self.render(latent, generator)

    def eyeglasses(self, face, direction):
        """The attribute inverter's `add` or `remove` edit of a face, at the face's size."""
        if self.inverter is None:
            raise InputError("no attribute inverter is loaded")
        size = face.shape[0]
        resized = files.to_uint8(face)
        if size != self.inverter.size:
            resized = np.asarray(Image.fromarray(resized).resize((self.inverter.size,) * 2, Image.Resampling.BICUBIC))
        edited, _ = self.inverter(resized[None].astype(np.float32) / 255.0, direction)
        out = files.to_uint8(edited[0])
        if size != self.inverter.size:
            out = np.asarray(Image.fromarray(out).resize((size, size), Image.Resampling.BICUBIC))
        return out.astype(np.float32) / 255.0
