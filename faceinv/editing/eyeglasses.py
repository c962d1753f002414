"""Eyeglasses ground truth from the `synthetic` generator: two-class face sets and a judge of edits.

The synthetic renderer draws glasses with opacity sigmoid(4 (s - 1)), where s
is the latent's true eyeglasses score. Faces with s <= WITHOUT_MAX (opacity
under 5%) are "without", faces with s >= WITH_MIN (over 95%) "with"; the rest
are ambiguous and not used.

The judge needs no trained network. For each test face it renders two
counterfactuals that differ from the face in the glasses alone: the latent is
moved along the part of the eyeglasses direction orthogonal to the other four
attribute directions (every other drawn feature depends on directions
orthogonal to those five), to s = OFF_SCORE and s = ON_SCORE. An edit is then
scored by where it lies between them on the pixels the glasses cover:
    amount = <edit - off, on - off> / |on - off|^2   over the glasses pixels,
0 for the face without glasses, 1 for the face with them. An edit succeeds
when it is most of the way there (amount >= 0.8 adding, <= 0.2 removing) and
its change in the eye region has the shape of the true change (cosine >= 0.8),
both per face; amount > 0.5, the first version's criterion, only says "nearer
(L2) to the render with glasses than to the one without" and is kept as the
lenient column. The eye region is every pixel the glasses change at
all, widened by REGION_MARGIN pixels; the change an edit makes outside it is
the leak the authors report.
"""
import numpy as np
import tensorflow as tf

from faceinv.data import pipelines
from faceinv.editing import edits
from faceinv.editing.residual_gan import checkerboard_energy
from faceinv.models.generators import sample_latents
from faceinv.models.synthetic import ATTRIBUTES

WITHOUT_MAX, WITH_MIN = 0.25, 1.75
OFF_SCORE, ON_SCORE = -0.5, 2.5     # opacity 0.3% and 99.8%
GLASSES_PIXEL = 0.1                 # |on - off| (max over channels) of a pixel the glasses cover
REGION_PIXEL = 0.01                 # ... of a pixel they change at all
REGION_MARGIN = 3                   # pixels added around the eye region
POOL = 50_000                       # latents drawn per try when collecting a class
SUCCESS_TARGET = 0.8                # share of held-out faces an inverter must edit, each way (strict judge)
# A strict success is an edit most of the way there, of the right shape: an
# amount of at least ADD_AMOUNT (at most REMOVE_AMOUNT when removing) and a
# change cosine of at least MIN_COSINE, each per face. The lenient judge of the
# first version (amount past 0.5, i.e. merely nearer the right render) counted
# faint coloured blotches as glasses and half-visible frames as removed.
ADD_AMOUNT, REMOVE_AMOUNT, MIN_COSINE = 0.8, 0.2, 0.8
# The most an edit may change the face outside the eye region, as a mean
# absolute difference in [0, 1] units: 0.015 is 4 of 255 grey levels, a quarter
# of the mean change the glasses themselves make inside the region (0.06), and
# below the smallest uniform brightening visible side by side (a Weber fraction
# of 1-2%), which is the failure the authors report. The ground truth changes
# nothing there (under 1e-6).
OUTSIDE_THRESHOLD = 0.015


def _glasses_only_direction(generator):
    others = [generator.attribute_directions[a] for a in ATTRIBUTES if a != "eyeglasses"]
    return edits.conditional_direction(generator.attribute_directions["eyeglasses"], others)


def split_latents(generator, count, seed):
    """(latents without glasses [count, latent_dim], latents with glasses [count, latent_dim]),
    the first `count` of each class among latents drawn with `seed`."""
    direction = generator.attribute_directions["eyeglasses"]
    without, with_, draw = [], [], 0
    while sum(map(len, without)) < count or sum(map(len, with_)) < count:
        latents = sample_latents(POOL, [seed, draw], generator.latent_dim)
        scores = latents.astype(np.float64) @ direction
        without.append(latents[scores <= WITHOUT_MAX])
        with_.append(latents[scores >= WITH_MIN])
        draw += 1
    return np.concatenate(without)[:count], np.concatenate(with_)[:count]


def set_eyeglasses(generator, latents, score):
    """The latents moved so that their eyeglasses score is `score`, every other drawn feature kept."""
    latents = np.asarray(latents, np.float64)
    u = _glasses_only_direction(generator)
    d = generator.attribute_directions["eyeglasses"].astype(np.float64)
    step = (score - latents @ d) / (u @ d)
    return (latents + step[:, None] * u[None]).astype(np.float32)


def counterfactuals(generator, latents, size=None):
    """float32 renders (without glasses, with glasses) [N, size, size, 3] of the same faces."""
    def render(score):
        return _resized(generator(set_eyeglasses(generator, latents, score)), size)
    return render(OFF_SCORE), render(ON_SCORE)


def _resized(faces, size):
    return np.asarray(faces if size in (None, faces.shape[1]) else pipelines.resize(faces, size))


def eye_region(off, on):
    """bool [N, H, W]: the pixels the glasses change, widened by REGION_MARGIN."""
    changed = np.abs(on - off).max(-1) > REGION_PIXEL
    width = 2 * REGION_MARGIN + 1
    widened = tf.nn.max_pool2d(changed[..., None].astype(np.float32), width, 1, "SAME")
    return np.asarray(widened)[..., 0] > 0.5


def glasses_amount(edited, off, on):
    """[N]: 0 where `edited` matches the render without glasses on the glasses'
    pixels, 1 where it matches the render with them (see the module docstring)."""
    covered = (np.abs(on - off).max(-1) > GLASSES_PIXEL)[..., None]
    change = (on - off) * covered
    return ((edited - off) * change).sum((1, 2, 3)) / (change * change).sum((1, 2, 3))


def change_cosine(faces, edited, target, region):
    """[N]: cosine, over the eye region, between the change an edit made and the
    change the ground truth makes (1: the right shape, 0: unrelated or none).
    `amount` only asks which render an edit is nearer to; this asks whether
    what was drawn looks like the glasses."""
    inside = region[..., None]
    made, wanted = (edited - faces) * inside, (target - faces) * inside
    dot = (made * wanted).sum((1, 2, 3))
    norms = np.sqrt((made * made).sum((1, 2, 3)) * (wanted * wanted).sum((1, 2, 3)))
    return dot / np.maximum(norms, 1e-12)


def outside_change(faces, edited, region):
    """[N]: mean absolute change (over pixels and channels) outside each face's eye region."""
    outside = ~region[..., None]
    return (np.abs(edited - faces) * outside).sum((1, 2, 3)) / (3 * outside.sum((1, 2, 3)))


def held_out_faces(generator, count=200, seed=1, size=None, batch_size=50):
    """The judge's faces, drawn once: {"add": faces without glasses, "remove": faces
    with them}, each a list of batches (faces, render without glasses, render with
    them, eye region)."""
    held_out = {}
    for direction, latents in zip(("add", "remove"), split_latents(generator, count, seed)):
        held_out[direction] = []
        for start in range(0, count, batch_size):
            batch = latents[start:start + batch_size]
            off, on = counterfactuals(generator, batch, size)
            held_out[direction].append((_resized(generator(batch), size), off, on, eye_region(off, on)))
    return held_out


def judge(held_out, edit):
    """Judge an inverter on `held_out_faces`: `edit(faces, "add" | "remove")` ->
    (edited, residual). Returns {"add": ..., "remove": ...}, each with per-face
    `amount`, `outside`, `cosine` and `checkerboard` (the residual's period-2
    energy share) arrays and the faces, edits and residuals of the first batch."""
    report = {}
    for direction, batches in held_out.items():
        amounts, outside, cosines, checkerboard, shown = [], [], [], [], None
        for faces, off, on, region in batches:
            edited, residual = (np.asarray(x) for x in edit(faces, direction))
            amounts.append(glasses_amount(edited, off, on))
            outside.append(outside_change(faces, edited, region))
            cosines.append(change_cosine(faces, edited, on if direction == "add" else off, region))
            checkerboard.append(checkerboard_energy(residual))
            shown = shown or (faces, edited, residual)
        report[direction] = {"amount": np.concatenate(amounts), "outside": np.concatenate(outside),
                             "cosine": np.concatenate(cosines), "checkerboard": np.concatenate(checkerboard),
                             "shown": shown}
    return report


def judge_edits(generator, edit, count=200, seed=1, size=None, batch_size=50):
    """`judge` on `count` held-out faces per class drawn with `seed`."""
    return judge(held_out_faces(generator, count, seed, size, batch_size), edit)


def successes(direction, amount, cosine):
    """bool [N]: (strict, lenient) successes of one direction's edits (see ADD_AMOUNT)."""
    if direction == "add":
        return (amount >= ADD_AMOUNT) & (cosine >= MIN_COSINE), amount > 0.5
    return (amount <= REMOVE_AMOUNT) & (cosine >= MIN_COSINE), amount < 0.5


def summarise(report):
    """Success rates (strict; strict with the face outside the eye region kept,
    changed by less than OUTSIDE_THRESHOLD; and the lenient amount-past-0.5 of the first version),
    the distributions of amount and cosine, and the outside-region change of a
    `judge_edits` report, as plain numbers."""
    summary = {}
    for direction, r in report.items():
        amount, cosine, outside = r["amount"], r["cosine"], r["outside"]
        strict, lenient = successes(direction, amount, cosine)
        quartiles = (25, 50, 75)
        summary[direction] = {
            "success": float(strict.mean()), "success_lenient": float(lenient.mean()),
            "success_kept": float((strict & (outside < OUTSIDE_THRESHOLD)).mean()),
            "amount_mean": float(amount.mean()), "amount_quartiles": np.percentile(amount, quartiles).tolist(),
            "cosine_mean": float(cosine.mean()), "cosine_quartiles": np.percentile(cosine, quartiles).tolist(),
            "outside_mean": float(outside.mean()), "outside_p95": float(np.percentile(outside, 95)),
            "checkerboard_mean": float(r["checkerboard"].mean())}
    summary["passes"] = bool(min(summary[d]["success"] for d in report) >= SUCCESS_TARGET
                             and max(summary[d]["outside_mean"] for d in report) < OUTSIDE_THRESHOLD)
    return summary
