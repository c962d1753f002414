"""Landmark alignment and the pose score: geometry on drawn points, MTCNN on real photos."""
import numpy as np
import pytest
from PIL import Image
from skimage import data

from faceinv.data import alignment


def _rotate(image, degrees):
    return np.asarray(Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def detector():
    return alignment.FaceDetector()


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 500, (5, 2))
    angle, scale, shift = 0.4, 0.31, np.array([-12.0, 40.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = scale * source @ rotation.T + shift
    matrix = alignment.similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(source @ matrix[:, :2].T + matrix[:, 2], target, atol=1e-9)


@pytest.mark.parametrize("size", [128, 160])
def test_warp_puts_the_landmarks_on_the_template(size):
    """Five bright dots at known places in a rotated, scaled photo-sized canvas
    come out at the template points (sub-pixel), also through the box-filter
    shrink taken for big reductions."""
    angle, scale = np.deg2rad(25.0), 4.5
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = alignment.CELEBA_PROGAN.points @ rotation.T * scale + np.array([300.0, 150.0])
    canvas = np.zeros((900, 900, 3), np.uint8)
    yy, xx = np.mgrid[:900, :900] + 0.5
    for x, y in points:
        canvas[(xx - x) ** 2 + (yy - y) ** 2 < 9.0 ** 2] = 255
    crop = alignment.warp(canvas, points, size)[..., 0].astype(np.float64)
    found = []
    for target in alignment.CELEBA_PROGAN.at(size):
        x0, y0 = np.floor(target).astype(int) - 5
        patch = crop[y0:y0 + 11, x0:x0 + 11]
        py, px = np.mgrid[y0:y0 + 11, x0:x0 + 11] + 0.5
        found.append([(patch * px).sum() / patch.sum(), (patch * py).sum() / patch.sum()])
    np.testing.assert_allclose(found, alignment.CELEBA_PROGAN.at(size), atol=0.3)


def test_yaw_is_zero_when_frontal_and_ignores_in_plane_rotation():
    frontal = alignment.CELEBA_PROGAN.at(128)
    assert alignment.yaw(frontal) == pytest.approx(0.0, abs=0.02)
    turned = frontal.copy()
    turned[2, 0] += 10.0  # nose moved towards the image's right
    angle = np.deg2rad(30.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert alignment.yaw(turned) > 0.2
    assert alignment.yaw(turned @ rotation.T) == pytest.approx(alignment.yaw(turned), abs=1e-12)
    mirrored = turned[[1, 0, 2, 4, 3]] * [-1.0, 1.0]
    assert alignment.yaw(mirrored) == pytest.approx(-alignment.yaw(turned), abs=1e-12)


def test_mtcnn_pose_is_antisymmetric_under_mirroring(detector):
    """The issue's check: scikit-image's astronaut (near frontal) and its mirror
    give pose scores that sum to nearly zero. Tolerance: the sum times the eye
    distance, i.e. the nose's disagreement in pixels, is at most 1 px (MTCNN's
    landmarks are integer-precision at best). The cameraman, who looks to one
    side, shows that the score is not zero by construction: mirroring flips it."""
    astronaut = data.astronaut()
    points, _ = detector.landmarks(astronaut)
    mirror_points, _ = detector.landmarks(np.ascontiguousarray(astronaut[:, ::-1]))
    eye_distance = np.linalg.norm(points[1] - points[0])
    total = alignment.yaw(points) + alignment.yaw(mirror_points)
    assert abs(total) * eye_distance <= 1.0

    camera = np.stack([data.camera()] * 3, axis=-1)
    turned = alignment.yaw(detector.landmarks(camera)[0])
    mirrored = alignment.yaw(detector.landmarks(np.ascontiguousarray(camera[:, ::-1]))[0])
    rolled = alignment.yaw(detector.landmarks(_rotate(camera, 15))[0])
    assert turned > 0.3 and mirrored < -0.3
    assert rolled == pytest.approx(turned, abs=0.1)


def test_detector_finds_no_face_in_a_cup_of_coffee(detector):
    assert detector.landmarks(data.coffee()) == (None, 0.0)


def test_detector_rejects_a_non_rgb_array(detector):
    from faceinv.errors import InputError
    with pytest.raises(InputError, match="uint8 RGB"):
        detector.landmarks(np.zeros((64, 64), np.uint8))


@pytest.mark.slow
def test_the_dcgan_template_is_where_mtcnn_finds_its_faces_landmarks(detector):
    from faceinv.models.dcgan import TEMPLATE
    from faceinv.models.generators import load_generator, render_batches, sample_latents
    generator = load_generator("dcgan-digiface")
    assert generator.template is TEMPLATE and TEMPLATE.size == generator.resolution
    faces = np.concatenate([f for _, f in render_batches(generator, sample_latents(64, 0, generator.latent_dim))])
    mean, found = alignment.mean_landmarks(faces, detector)
    assert found > 48
    np.testing.assert_allclose(mean, TEMPLATE.points, atol=1.0)
    assert np.abs(TEMPLATE.points - alignment.CELEBA_PROGAN.at(64)).max() > 3  # not ProGAN's framing


def test_detections_list_every_face_with_its_size(detector):
    """Two astronauts, the second half the size: both found, the larger's box four times the area,
    and landmarks() still answers with the most confident one."""
    astronaut = Image.fromarray(data.astronaut())
    pair = Image.new("RGB", (1024, 512))
    pair.paste(astronaut, (0, 0))
    pair.paste(astronaut.resize((256, 256)), (640, 128))
    faces = detector.detections(np.asarray(pair))
    assert len(faces) == 2 and faces[0][1] >= faces[1][1]
    big, small = sorted(faces, key=lambda face: -face[2])
    assert big[2] / small[2] == pytest.approx(4.0, rel=0.25)
    assert big[0][:, 0].max() < 512 < small[0][:, 0].min()  # the big face is the left one
    points, confidence = detector.landmarks(np.asarray(pair))
    np.testing.assert_array_equal(points, faces[0][0])
    for points, _, area, (x, y, width, height) in faces:  # each box holds its own landmarks
        assert width * height == pytest.approx(area)
        assert (x < points[:, 0]).all() and (points[:, 0] < x + width).all()
        assert (y < points[:, 1]).all() and (points[:, 1] < y + height).all()


def _spot(size, x, y, width=2.0):
    yy, xx = np.mgrid[:size, :size] + 0.5
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * width ** 2))[..., None].astype(np.float32)


def _peak(image):
    """Where a single bright spot is, to a fraction of a pixel (x, y)."""
    weights = np.where(image[..., 0] > 0.5 * image.max(), image[..., 0], 0.0)
    yy, xx = np.mgrid[:image.shape[0], :image.shape[1]] + 0.5
    return np.array([(xx * weights).sum(), (yy * weights).sum()]) / weights.sum()


def test_thin_plate_warp_carries_a_point_to_its_target_and_leaves_still_points_still():
    """A spot at a moved point lands on its target; a spot at a point that stays, stays; with
    every point in place the image comes back unchanged."""
    moves, stays = np.array([20.0, 24.0]), np.array([44.0, 40.0])
    image = _spot(64, *moves) + _spot(64, *stays)
    target = np.array([27.0, 30.0])
    warped = alignment.thin_plate_warp(image, np.stack([moves, stays]), np.stack([target, stays]))
    assert warped.shape == image.shape and warped.dtype == image.dtype
    np.testing.assert_allclose(_peak(warped[:32, :36]), target, atol=0.3)
    np.testing.assert_allclose(_peak(warped[32:, 32:]) + 32, stays, atol=0.3)
    assert warped[:16, :16].max() < 0.05 < warped[20:40, 20:36].max()  # it moved, not copied
    still = alignment.thin_plate_warp(image, np.stack([moves, stays]), np.stack([moves, stays]))
    np.testing.assert_allclose(still, image, atol=1e-4)


@pytest.mark.slow
def test_render_landmarks_finds_a_generated_faces_points_in_its_own_pixels(detector):
    """On 64 px DCGAN renders (found enlarged) the landmarks sit near the generator's
    template; the outline adds the face box, around them; a blank render has none; a size
    where MTCNN finds none passes to the next."""
    from faceinv.models.generators import load_generator, sample_latents
    generator = load_generator("dcgan-digiface")
    faces = np.asarray(generator(sample_latents(6, 3, generator.latent_dim)))
    found = [alignment.render_landmarks(detector, face) for face in faces]
    found = np.array([points for points in found if points is not None])
    assert len(found) >= 4
    np.testing.assert_allclose(found.mean(axis=0), generator.template.points, atol=2.5)
    outline = alignment.render_landmarks(detector, faces[0], outline=True)
    np.testing.assert_allclose(outline[:5], alignment.render_landmarks(detector, faces[0]))
    corners = outline[5:9]
    assert outline.shape == (11, 2) and corners[0, 0] < outline[:5, 0].min() and corners[3, 1] > outline[:5, 1].max()
    assert (corners[0] >= -8).all() and (corners[3] <= 72).all()  # in the render's pixels, not the enlarged ones
    np.testing.assert_allclose(outline[9:], [(corners[0, 0], corners[:, 1].mean()), (corners[3, 0], corners[:, 1].mean())])
    assert alignment.render_landmarks(detector, np.zeros((64, 64, 3), np.float32)) is None
    # 16 px is below MTCNN's smallest face: it is passed over for the next size, whose points
    # come back in the render's pixels too (a larger size moves them by well under a pixel).
    retried = alignment.render_landmarks(detector, faces[0], sizes=(16, 224))
    assert alignment.render_landmarks(detector, faces[0], sizes=(16,)) is None
    np.testing.assert_allclose(retried, alignment.render_landmarks(detector, faces[0]), atol=1.0)
    assert not np.allclose(retried, alignment.render_landmarks(detector, faces[0]), atol=1e-6)
