"""What the web page (demo.py) does with a face, on the same functions the scripts use.

A photo is aligned with MTCNN onto the generator's framing, inverted as the
comparison's hybrid does it (the encoder's guess, then Adam steps on the pixel
loss; Adam from a random start where no encoder exists), and its latent is
moved along InterFaceGAN boundaries (each slider one attribute; conditional
editing projects the others out), interpolated to a second face, or handed to
the attribute inverter to add or remove eyeglasses. The networks are loaded
once; every call takes and returns its own arrays, so visitors share nothing
but the weights.
"""
import dataclasses
import os
import queue
import threading
import time

import numpy as np
from PIL import Image

from faceinv import files
from faceinv.data.alignment import MIN_FACE_SIZE, FaceDetector
from faceinv.editing.boundaries import load_boundary
from faceinv.editing.edits import conditional_direction
from faceinv.errors import InputError
from faceinv.inversion.gradient_recovery import INIT_SEED, ImageLoss, recover_latents
from faceinv.inversion.interpolation import slerp
from faceinv.models.generators import sample_latents

MAX_SIDE = 2048       # larger photos are downscaled first: MTCNN and the warp need no more
SNAPSHOTS = 8         # pictures of the refinement shown while inverting


@dataclasses.dataclass
class Inversion:
    aligned: np.ndarray          # [R, R, 3] in [0, 1]: the face as the generator frames it
    latent: np.ndarray           # [1, latent_dim]
    reconstruction: np.ndarray   # [R, R, 3]: the generator's face for the latent
    similarity: float            # FaceNet cosine of the aligned face and the reconstruction
    seconds: float
    how: str                     # "encoder + Adam" or "Adam"
    notes: list                  # what the visitor should know (downscaled, several faces)


class FaceEditor:
    """The networks of one page. `encoder`, `boundaries` (name -> unit normal) and
    `inverter` may be None: `missing()` then says what makes them."""

    def __init__(self, generator, facenet, encoder, steps, learning_rate, boundaries=None, inverter=None,
                 min_face_size=MIN_FACE_SIZE):
        self.generator, self.facenet, self.encoder, self.inverter = generator, facenet, encoder, inverter
        self.steps, self.learning_rate = steps, learning_rate
        self.boundaries = boundaries or {}
        self.detector = FaceDetector(min_face_size)
        self._lock = threading.Lock()  # MTCNN's Keras models are called by one visitor at a time

    @staticmethod
    def read_boundaries(folder, latent_dim):
        """Every <attribute>.npy of a boundary folder (interfacegan_svm.py boundaries writes them)."""
        if not folder or not os.path.isdir(folder):
            return {}
        return {name[:-4]: load_boundary(os.path.join(folder, name), latent_dim)
                for name in sorted(os.listdir(folder)) if name.endswith(".npy")}

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

    def render(self, latent):
        return np.asarray(self.generator(np.asarray(latent, np.float32)))[0]

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
        snapshots, result = queue.Queue(), {}
        every = max(1, self.steps // SNAPSHOTS)

        def on_step(step, latents):
            if step % every == 0 and step < self.steps:
                snapshots.put((step, latents))

        def optimise():
            try:
                result["recovery"] = recover_latents(self.generator, aligned[None], initial,
                                                     ImageLoss({"mae": 1.0}), self.steps, self.learning_rate,
                                                     seed=INIT_SEED, batch_size=1, on_step=on_step)
            except Exception as error:  # handed to the visitor's thread below
                result["error"] = error
            snapshots.put(None)

        worker = threading.Thread(target=optimise, daemon=True)
        worker.start()
        for step, latents in iter(snapshots.get, None):
            yield f"step {step}/{self.steps}", self.render(latents)
        worker.join()
        if "error" in result:
            raise result["error"]
        recovery = result["recovery"]
        reconstruction = recovery.images[0]
        _, embeddings = self.facenet(np.stack([aligned, reconstruction]))
        similarity = float(np.sum(np.asarray(embeddings[0]) * np.asarray(embeddings[1])))
        yield "done", Inversion(aligned, recovery.latents, reconstruction, similarity,
                                time.perf_counter() - started, how, notes)

    def edit(self, latent, amounts, conditional=False):
        """The face of `latent` moved by amounts[name] along each boundary; with
        `conditional`, each direction has the other boundaries projected out, so
        one slider leaves the other attributes where they were."""
        latent = np.asarray(latent, np.float32).copy()
        for name, amount in amounts.items():
            if amount:
                normal = self.boundaries[name]
                if conditional:
                    others = [n for other, n in self.boundaries.items() if other != name]
                    normal = conditional_direction(normal, others)
                latent = (latent + amount * normal).astype(np.float32)
        return latent, self.render(latent)

    def interpolate(self, latent_a, latent_b, t):
        latent = slerp(np.asarray(latent_a)[0], np.asarray(latent_b)[0], float(t))[None]
        return latent, self.render(latent)

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
