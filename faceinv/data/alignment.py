"""MTCNN face landmarks, and crops aligned to the generator's framing.

The paper aligns and crops every real face with MTCNN before the encoder sees
it. Here the most confident face's five landmarks are mapped by a similarity
transform (rotation, uniform scale, shift) onto a template: where those five
landmarks sit in the faces the generator draws, so that a real face is framed
like them. Each generator names its own template (`generator.template`).

The templates (`Template`, CELEBA_PROGAN, the landmarks' order and pixel
convention) are defined with the networks, in faceinv/models/templates.py.
"""
import numpy as np
from PIL import Image

from faceinv import files
from faceinv.errors import InputError
from faceinv.models.templates import CELEBA_PROGAN

MIN_FACE_SIZE = 20  # pixels: MTCNN's smallest face (its own default)
# A photo's faces are those MTCNN gives at least this confidence; below it, on the
# insightface sample images, it returned patches of background and hands.
MIN_CONFIDENCE = 0.95
DETECT_MAX_SIDE = 1024  # larger photos are shrunk for detection only: MTCNN's cost grows with area


def similarity_transform(source, target):
    """The least-squares similarity (Umeyama 1991) taking `source` points onto
    `target`: returns the 2x3 matrix A with target ~ A @ [x, y, 1]."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    covariance = t.T @ s / len(source)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / s.var(0).sum()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_t - matrix[:, :2] @ mu_s
    return matrix


def warp(image, landmarks, size, template=CELEBA_PROGAN):
    """Crop `image` (uint8 [H, W, 3]) so that `landmarks` land on `template` in
    a size x size crop. Big reductions are first done by box-filter shrinking, so
    the bicubic warp never aliases; outside the photo is black."""
    matrix = similarity_transform(landmarks, template.at(size))
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    picture = Image.fromarray(np.asarray(image, np.uint8))
    shrink = int(1.0 / scale) // 2 * 2 if scale < 0.5 else 1
    if shrink > 1:
        picture = picture.reduce(shrink)
        matrix = matrix.copy()
        matrix[:, :2] *= shrink
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    crop = picture.transform((size, size), Image.Transform.AFFINE, inverse.ravel(),
                             resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))
    return np.asarray(crop)


class FaceDetector:
    """MTCNN with the weights its package ships; finds the most confident face."""

    def __init__(self, min_face_size=MIN_FACE_SIZE):
        from mtcnn import MTCNN
        self._mtcnn = MTCNN()
        self.min_face_size = min_face_size

    def detections(self, image, min_confidence=0.0):
        """Every face MTCNN finds in a uint8 RGB image at `min_confidence` or above, most
        confident first, as (landmarks [5, 2] float, confidence, box area in pixels, box
        (x, y, width, height)) in the image's coordinates."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"face detection needs a uint8 RGB image, not {image.dtype} {image.shape}")
        factor = min(1.0, DETECT_MAX_SIDE / max(image.shape[:2]))
        if factor < 1.0:
            small = Image.fromarray(image).resize(
                (round(image.shape[1] * factor), round(image.shape[0] * factor)), Image.Resampling.BOX)
            image = np.asarray(small)
        found = self._mtcnn.detect_faces(image, output_type="numpy", min_face_size=self.min_face_size)
        faces = []
        for row in sorted(found, key=lambda r: -r[5]):
            if row[5] < min_confidence:
                continue
            # Columns 1-4 hold the box (x, y, width, height), 6-10 the five x, 11-15
            # the five y; MTCNN counts pixel centres at integers, we at i + 0.5.
            points = np.stack([row[6:11], row[11:16]], axis=1).astype(np.float64) + 0.5
            area = float(row[3] * row[4]) / factor ** 2
            box = np.asarray(row[1:5], np.float64) / factor
            faces.append((points / factor, float(row[5]), area, box))
        return faces

    def landmarks(self, image):
        """(landmarks [5, 2] float, confidence) of the most confident face in a
        uint8 RGB image, or (None, 0.0) when there is none."""
        faces = self.detections(image)
        return (faces[0][0], faces[0][1]) if faces else (None, 0.0)

    def photo_faces(self, image):
        """The faces of a photo, at MIN_CONFIDENCE or above, largest first: face 0 is the one
        the photo scripts and the page use unless told another (--face N)."""
        return sorted(self.detections(image, MIN_CONFIDENCE), key=lambda face: -face[2])

    def align_photo_face(self, image, size, template, index=0, where="the photo"):
        """Face `index` of photo_faces, aligned to size x size uint8, and how many faces there are."""
        faces = self.photo_faces(image)
        if not faces:
            raise InputError(f"MTCNN found no face in {where} (at confidence {MIN_CONFIDENCE} or above)")
        if not 0 <= index < len(faces):
            raise InputError(f"--face {index} asked for, but {where} has {len(faces)} face"
                             f"{'s' if len(faces) > 1 else ''} (0 to {len(faces) - 1}, largest first)")
        return warp(image, faces[index][0], size, template), len(faces)

    def align(self, image, size, template=CELEBA_PROGAN):
        """The most confident face of a uint8 RGB image as an aligned uint8 size x
        size crop, or None when there is no face."""
        landmarks, _ = self.landmarks(image)
        return None if landmarks is None else warp(image, landmarks, size, template)


def mean_landmarks(faces, detector):
    """MTCNN's mean landmarks [5, 2] over uint8 faces [N, R, R, 3], and how many
    faces it found: the template of a generator that draws such faces."""
    found = [points for points, _ in map(detector.landmarks, faces) if points is not None]
    if not found:
        raise InputError("MTCNN found no face to average")
    return np.mean(found, axis=0), len(found)


def yaw(landmarks):
    """Signed left-right head turn from five landmarks: the nose's offset from the
    midpoint of the eyes and mouth corners, along the eye line, in units of the
    eye distance. Zero for a frontal face; unchanged by rotating the photo in its
    plane; exactly negated by mirroring it."""
    points = np.asarray(landmarks, np.float64)
    eye_line = points[1] - points[0]
    offset = points[2] - np.delete(points, 2, axis=0).mean(0)
    return float(offset @ eye_line / (eye_line @ eye_line))


def mouth_width(landmarks):
    """Mouth-corner distance over eye distance: grows when a face smiles."""
    points = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(points[4] - points[3]) / np.linalg.norm(points[1] - points[0]))


# Generated faces are enlarged to the first of these for MTCNN (whose smallest face is 20 px),
# and to the next where it finds none: one scale of its pyramid misses some turned faces.
RENDER_DETECT_SIZES = (128, 160, 224)


def render_landmarks(detector, face, outline=False, sizes=RENDER_DETECT_SIZES):
    """The five landmarks [5, 2] (x, y, pixel centres at i + 0.5) of a rendered face [R, R, 3]
    in [0, 1], in its own pixels, found on the face enlarged to the first of `sizes` at which
    MTCNN finds one; None where it finds none at any. With `outline`, six points of MTCNN's
    face box follow (its corners, then the middles of its left and right sides): [11, 2]."""
    face = np.asarray(face)
    for size in sizes:
        big = Image.fromarray(files.to_uint8(face)).resize((size, size), Image.Resampling.BICUBIC)
        found = detector.detections(np.asarray(big))
        if found:
            break
    else:
        return None
    points, _, _, (x, y, width, height) = found[0]
    if outline:
        box = [(x, y), (x + width, y), (x, y + height), (x + width, y + height),
               (x, y + height / 2), (x + width, y + height / 2)]
        points = np.concatenate([points, np.asarray(box, np.float64)])
    return points * face.shape[0] / size


def thin_plate_warp(image, source, target):
    """`image` [R, R, C] bent by a thin-plate spline so that its points `source` [K, 2] (x, y)
    land on `target`, with the border held still: the smoothest warp that moves only what
    the points say. Bilinear sampling; outside the image repeats its edge."""
    size = image.shape[0]
    edge = [0.0, size / 2, float(size)]
    border = np.array([(x, y) for x in edge for y in edge if (x, y) != (size / 2, size / 2)])
    moved = np.concatenate([np.asarray(target, np.float64), border])     # where a point ends up
    origin = np.concatenate([np.asarray(source, np.float64), border])    # where it is read from

    def kernel(a, b):
        r2 = np.sum((a[:, None] - b[None]) ** 2, axis=-1)
        return np.where(r2 > 0, r2 * np.log(np.maximum(r2, 1e-12)), 0.0)

    count = len(moved)
    affine = np.concatenate([np.ones((count, 1)), moved], 1)
    system = np.zeros((count + 3, count + 3))
    system[:count, :count], system[:count, count:], system[count:, :count] = kernel(moved, moved), affine, affine.T
    coefficients = np.linalg.solve(system, np.concatenate([origin, np.zeros((3, 2))]))
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    pixels = np.stack([xs.ravel(), ys.ravel()], 1)
    read = (kernel(pixels, moved) @ coefficients[:count] +
            np.concatenate([np.ones((len(pixels), 1)), pixels], 1) @ coefficients[count:]) - 0.5
    x = np.clip(read[:, 0], 0, size - 1)
    y = np.clip(read[:, 1], 0, size - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), size - 2), np.minimum(np.floor(y).astype(int), size - 2)
    wx, wy = (x - x0)[:, None], (y - y0)[:, None]
    flat = np.asarray(image).reshape(size * size, -1)

    def at(row, col):
        return flat[row * size + col]
    out = ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1)) +
           wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1)))
    return out.reshape(image.shape).astype(np.asarray(image).dtype)
