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
        confident first, as (landmarks [5, 2] float, confidence, box area in pixels) in the
        image's coordinates."""
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
            faces.append((points / factor, float(row[5]), area))
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
