"""An eyeglasses score for faces no one labelled (the DCGAN's), from MTCNN's eyes and the nose bridge.

The DCGAN draws faces with and without glasses but gives no label. Every
frame, whatever its colour, crosses the nose bridge between the eyes as a thin
horizontal bar; bare skin there is smooth from top to bottom. So each face is
aligned by MTCNN's five landmarks onto its generator's framing at CANONICAL
pixels (upsampled: the DCGAN's faces are 64 px, and the bar is then 2-4 px
thick), its luminance is averaged across the bridge (between the eyes, a
quarter of the eye distance wide) row by row, and the score is the strongest
thin line in that profile, dark or light:
    score = 255 * max_y |P(y) - (P(y - 2) + P(y + 2)) / 2|
in grey levels, over the rows from a quarter eye distance above the eyes to a
tenth below (where the bridge sits; the brows are higher). A face MTCNN does
not find scores NaN.

Checked by eye on the first 128 DCGAN faces of seed 7: 117 were scored and
labelled with confidence, 21 of them wearing glasses. The score ranked those
above the rest with an AUC of 0.88 (the strongest row of vertical gradient on
the bridge: 0.82; on the temples 0.72; under the eyes 0.66). Of the 12 faces
at WITH_MIN or above, 10 wear glasses (the other two are turned heads, whose
far eye lies near the bridge); of the 49 at WITHOUT_MAX or below, 2 do. Faces
in between (most false alarms are strong shadows and turned heads) are left
out of every split. The sorted grid of docs/inverter.md, "Eyeglasses on the DCGAN (no labels)",
shows the ranking on 4,000 faces.
"""
import numpy as np

from faceinv import files
from faceinv.data import alignment
from faceinv.errors import InputError
from faceinv.models.generators import sample_latents

CANONICAL = 128             # pixels of the aligned crop the score is measured on
BRIDGE_HALF_WIDTH = 0.12    # eye distances either side of the midpoint between the eyes
BRIDGE_ABOVE, BRIDGE_BELOW = 0.25, 0.10   # eye distances above and below the eye line
LINE_SPAN = 2               # pixels (at CANONICAL) between a row and the rows it is compared with
LUMINANCE = np.array([0.299, 0.587, 0.114])
WITHOUT_MAX, WITH_MIN = 4.0, 15.0   # grey levels: clearly no glasses / clearly glasses (see above)
MIN_SIDE_FACES = 30         # fewer faces on one side cannot train an inverter or fit a boundary


class EyeglassesScorer:
    """uint8 faces [N, R, R, 3] -> float32 scores [N] in grey levels (NaN: MTCNN found no face)."""

    def __init__(self, template, detector=None):
        self.template = template
        self.detector = detector or alignment.FaceDetector()
        points = template.at(CANONICAL)
        left, right = points[0], points[1]
        eye_distance = right[0] - left[0]
        centre, eye_line = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
        self.columns = slice(round(centre - BRIDGE_HALF_WIDTH * eye_distance),
                             round(centre + BRIDGE_HALF_WIDTH * eye_distance))
        # LINE_SPAN rows of context either side, so every row of the bridge can be a line's centre.
        self.rows = slice(round(eye_line - BRIDGE_ABOVE * eye_distance) - 2 * LINE_SPAN,
                          round(eye_line + BRIDGE_BELOW * eye_distance) + 2 * LINE_SPAN)

    def aligned(self, face):
        """The face warped onto the template at CANONICAL pixels, or None without a detection."""
        landmarks, _ = self.detector.landmarks(face)
        return None if landmarks is None else alignment.warp(face, landmarks, CANONICAL, self.template)

    def bridge_line(self, crop):
        """The score of one aligned uint8 crop [CANONICAL, CANONICAL, 3]."""
        luminance = crop[self.rows, self.columns].astype(np.float64) / 255.0 @ LUMINANCE
        profile = luminance.mean(axis=1)
        k = LINE_SPAN
        line = profile[k:-k] - (profile[:-2 * k] + profile[2 * k:]) / 2
        return 255.0 * np.abs(line).max()

    def __call__(self, faces):
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3 or faces.dtype != np.uint8:
            raise InputError(f"the eyeglasses score needs uint8 faces [N, H, W, 3], not {faces.dtype} {faces.shape}")
        scores = np.full(len(faces), np.nan, np.float32)
        for i, face in enumerate(faces):
            crop = self.aligned(face)
            if crop is not None:
                scores[i] = self.bridge_line(crop)
        return scores


def sides(scores):
    """bool masks (without, with) of clearly scored faces; NaN is on neither side."""
    scores = np.asarray(scores, np.float64)
    with np.errstate(invalid="ignore"):
        return scores <= WITHOUT_MAX, scores >= WITH_MIN


def check_sides(scores, what):
    """InputError, one line, when either side holds fewer than MIN_SIDE_FACES faces."""
    without, with_ = (int(side.sum()) for side in sides(scores))
    if min(without, with_) < MIN_SIDE_FACES:
        raise InputError(f"{what} gives {without} faces without eyeglasses (score <= {WITHOUT_MAX}) and "
                         f"{with_} with (score >= {WITH_MIN}); each side needs at least {MIN_SIDE_FACES}: "
                         "score more faces")
    return without, with_



def held_out(generator, scorer, count, seed, chunk=256, max_faces=20_000):
    """(latents without glasses [count, D], latents with glasses [count, D]): the first `count`
    faces clearly on each side among latents drawn with `seed`, scored `chunk` at a time."""
    without, with_, drawn = [], [], 0
    while min(sum(map(len, without)), sum(map(len, with_))) < count:
        if drawn >= max_faces:
            raise InputError(f"{drawn} faces of seed {seed} held {sum(map(len, without))} without eyeglasses and "
                             f"{sum(map(len, with_))} with; ask for fewer than {count} per side")
        latents = sample_latents(chunk, [seed, drawn // chunk], generator.latent_dim)
        off, on = sides(scorer(files.to_uint8(np.asarray(generator(latents)))))
        without.append(latents[off])
        with_.append(latents[on])
        drawn += chunk
    return np.concatenate(without)[:count], np.concatenate(with_)[:count]


def embeddings(facenet, faces, batch_size=32):
    """FaceNet's unit embeddings of faces in [0, 1], a batch at a time (it also returns 21 activations)."""
    return np.concatenate([np.asarray(facenet(faces[i:i + batch_size])[1]) for i in range(0, len(faces), batch_size)])


def judge_edits(generator, scorer, facenet, editors, count, seed, shown=8):
    """Judge eyeglasses edits on held-out faces, by the score alone (there is no ground truth).
    `editors` maps a name to edit(faces [N, R, R, 3] in [0, 1], latents [N, D], "add" | "remove")
    -> edited faces like `faces`. For each direction ("add" on faces clearly without glasses,
    "remove" on faces clearly with them) and editor: how often the edit's score crosses to the
    other side (>= WITH_MIN after adding, <= WITHOUT_MAX after removing; an edit MTCNN loses
    counts as no flip), the mean score before and after, and FaceNet's identity similarity (the
    cosine of the face's and the edit's embeddings). Returns (summary, {direction: faces and
    each editor's edits of the first `shown` faces}).
    """
    classes = dict(zip(("add", "remove"), held_out(generator, scorer, count, seed)))
    summary, pictures = {}, {}
    for direction, latents in classes.items():
        faces = np.asarray(generator(latents))
        before = scorer(files.to_uint8(faces))
        original = embeddings(facenet, faces)
        summary[direction] = {"faces": len(latents), "score_before": float(np.mean(before))}
        pictures[direction] = [faces[:shown]]
        for name, edit in editors.items():
            edited = np.asarray(edit(faces, latents, direction), np.float32)
            after = scorer(files.to_uint8(edited))
            similarity = np.sum(original * embeddings(facenet, edited), axis=1)
            with np.errstate(invalid="ignore"):
                flipped = after >= WITH_MIN if direction == "add" else after <= WITHOUT_MAX
            summary[direction][name] = {
                "flip_rate": float(flipped.mean()), "score_after": float(np.nanmean(after)) if (~np.isnan(after)).any() else None,
                "lost_by_mtcnn": int(np.isnan(after).sum()), "identity_similarity": float(similarity.mean()),
                "identity_similarity_p10": float(np.percentile(similarity, 10))}
            pictures[direction].append(edited[:shown])
    return summary, pictures
