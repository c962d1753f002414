import numpy as np
import pytest

from faceinv.models.synthetic import ATTRIBUTE_COSINES, ATTRIBUTES, FEATURE_ROWS, SyntheticFaces


def latents(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 512)).astype(np.float32)


def along(generator, attribute, amounts, base):
    """Latents equal to `base` except for their score on `attribute`, set to `amounts`."""
    d = generator.attribute_directions[attribute]
    return np.stack([base - base.dot(d) * d + a * d for a in amounts]).astype(np.float32)


def test_shape_range_dtype(synthetic):
    images = synthetic(latents(3)).numpy()
    assert images.shape == (3, 128, 128, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert images.std() > 0.1  # not a flat image


@pytest.mark.slow
def test_bit_identical_across_loads_and_batch_sizes(synthetic):
    z = latents(20)
    first = synthetic(z).numpy()
    again = SyntheticFaces()(z).numpy()
    assert np.array_equal(first, again)
    for size in (1, 3, 17):
        assert np.array_equal(synthetic(z[:size]).numpy(), first[:size])
    # ...and wherever a face sits in its batch.
    for start, stop in ((5, 6), (13, 20), (2, 19)):
        assert np.array_equal(synthetic(z[start:stop]).numpy(), first[start:stop])


def test_different_latents_give_different_faces(synthetic):
    images = synthetic(latents(2)).numpy()
    assert np.abs(images[0] - images[1]).mean() > 0.05


def test_attribute_directions_have_the_designed_cosines(synthetic):
    d = np.stack([synthetic.attribute_directions[a] for a in ATTRIBUTES]).astype(np.float64)
    np.testing.assert_allclose(d @ d.T, ATTRIBUTE_COSINES, atol=1e-5)
    z = latents(4)
    np.testing.assert_allclose(synthetic.attribute_scores(z), z.astype(np.float64) @ d.T, atol=1e-5)


def test_smile_direction_opens_and_widens_the_mouth(synthetic):
    z = along(synthetic, "smile", [-2.5, 0.0, 1.2, 2.5], latents(1, seed=3)[0])
    images = synthetic(z).numpy()
    mouth = images[:, 78:104, 36:92]
    skin = images[:, 60:75, 50:78].mean(axis=(1, 2, 3))[:, None, None]
    teeth = ((mouth.mean(-1) > skin + 0.1) & (np.ptp(mouth, -1) < 0.15)).sum(axis=(1, 2))
    lips = (mouth[..., 0] - mouth[..., 1] > 0.12).any(axis=1).sum(axis=1)  # mouth width
    assert teeth[1] <= teeth[2] < teeth[3] and teeth[3] > 10
    assert lips[0] < lips[2] < lips[3]
    np.testing.assert_allclose(synthetic.attribute_scores(z)[:, 1], [-2.5, 0.0, 1.2, 2.5], atol=1e-5)


def test_eyeglasses_direction_puts_glasses_on(synthetic):
    # Eyeglasses correlate with age and gender by design; project those (and the
    # others) out so that only the eyeglasses score moves.
    others = np.stack([synthetic.attribute_directions[a] for a in ATTRIBUTES if a != "eyeglasses"])
    d = synthetic.attribute_directions["eyeglasses"].astype(np.float64)
    d -= others.T @ np.linalg.lstsq(others.T, d, rcond=None)[0]
    base = latents(1, seed=5)[0]
    z = np.stack([base + a * d / np.linalg.norm(d) for a in (-4.0, 6.0)]).astype(np.float32)
    scores = synthetic.attribute_scores(z)
    assert scores[1, 4] - scores[0, 4] > 5.0
    np.testing.assert_allclose(np.delete(scores[1] - scores[0], 4), 0.0, atol=1e-4)
    images = synthetic(z).numpy()
    darkness = 1.0 - images.mean(-1)
    eye_band = slice(48, 72)
    change_eyes = np.abs(images[1, eye_band] - images[0, eye_band]).mean()
    change_elsewhere = np.abs(images[1, 90:] - images[0, 90:]).mean()
    assert (darkness[1, eye_band] > 0.7).sum() > (darkness[0, eye_band] > 0.7).sum() + 40
    assert change_eyes > 10 * change_elsewhere


def test_feature_band_cuts_nothing_visible(synthetic):
    """Small features are drawn only inside FEATURE_ROWS; check no face puts
    them at the band's edge, where the cut would show."""
    z = latents(64, seed=9) * 1.5
    images = synthetic(z).numpy()
    top, bottom = FEATURE_ROWS
    jumps = [np.abs(images[:, r] - images[:, r - 1]).mean() for r in (top, bottom)]
    ordinary = np.abs(np.diff(images, axis=1)).mean()
    assert max(jumps) < 2 * ordinary
