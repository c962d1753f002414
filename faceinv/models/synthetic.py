"""The built-in `synthetic` generator: a differentiable renderer of cartoon faces.

Why it exists: the real ProGAN cannot be downloaded everywhere, and the tests need
ground truth that no real GAN gives: the true latent of every face and the true
score of every attribute. Faces are drawn from soft shapes (sigmoids of signed
distances), so images are smooth functions of the latent and a GradientTape
works through them.

How the latent is used (z is 512-d standard normal):
- Five attributes, as in InterFaceGAN: the true score of each is z . d_k for a
  fixed unit direction d_k, and the drawn feature is a smooth monotone function
  of that score. Age, gender and eyeglasses directions are correlated like the
  boundaries InterFaceGAN measured on real faces; pose and smile are orthogonal
  to everything, so conditional editing has something real to correct.
- 32 more directions drive the rest of the look (head shape, skin, hair, eyes,
  nose, mouth, background, lighting), 192 a low-frequency colour field and 256
  a faint luminance texture: most directions change the image, some only a
  little, and 27 not at all (the non-uniqueness of inversion the paper discusses).
Every output of this generator is a stand-in for a face GAN, and is labelled so.
"""
import types

import numpy as np
import tensorflow as tf

from faceinv.models.templates import CELEBA_PROGAN

LATENT_DIM = 512
RESOLUTION = 128
ATTRIBUTES = ("pose", "smile", "age", "gender", "eyeglasses")
ATTRIBUTE_COSINES = np.array([
    [1.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.49, 0.38],
    [0.0, 0.0, 0.49, 1.0, 0.52],
    [0.0, 0.0, 0.38, 0.52, 1.0],
])
# The style block's columns, in order, each with the squashing that turns it
# into a feature: tanh for a signed nudge from the average face, sigmoid for a
# blend weight in (0, 1) between two looks.
_NUDGE, _BLEND = tf.tanh, tf.sigmoid
STYLE_SLOTS = (
    ("face_width", _NUDGE), ("face_height", _NUDGE), ("head_x", _NUDGE), ("head_y", _NUDGE),
    ("skin_tone", _BLEND), ("skin_warmth", _BLEND),
    ("hair_darkness", _BLEND), ("hair_redness", _BLEND), ("hair_length", _BLEND), ("hair_volume", _BLEND),
    ("background_red", _BLEND), ("background_green", _BLEND), ("background_blue", _BLEND),
    ("background_gradient", _NUDGE),
    ("clothes_red", _BLEND), ("clothes_green", _BLEND), ("clothes_blue", _BLEND),
    ("eye_spacing", _NUDGE), ("eye_size", _NUDGE), ("iris_blue", _BLEND), ("iris_green", _BLEND),
    ("eye_height", _NUDGE), ("nose_length", _NUDGE), ("nose_width", _NUDGE),
    ("mouth_height", _NUDGE), ("lip_thickness", _NUDGE), ("brow_height", _NUDGE), ("brow_tilt", _NUDGE),
    ("light_side", _NUDGE), ("light_vertical", _NUDGE), ("brightness", _NUDGE), ("beard", _BLEND),
)
N_STYLE = len(STYLE_SLOTS)
COLOUR_FIELD = 8   # 8x8x3 colour field
DETAIL_FIELD = 16  # 16x16 luminance texture
BASIS_SEED = 20200421
BATCH_MULTIPLE = 16
FEATURE_ROWS = (38, 104)  # y from -0.41 to 0.63: eyes, brows, nose, mouth, glasses
EDGE = 0.012       # soft-edge width in image units ([-1, 1] across the image)

LABEL = "STAND-IN: built-in synthetic cartoon faces (not a face GAN)"


def _directions():
    """Attribute directions [5, 512] and the other projections [512, K], fixed forever."""
    rng = np.random.default_rng(BASIS_SEED)
    basis, _ = np.linalg.qr(rng.standard_normal((LATENT_DIM, LATENT_DIM)))
    mixing = np.linalg.cholesky(ATTRIBUTE_COSINES)
    attributes = mixing @ basis[:, :5].T
    n_other = N_STYLE + 3 * COLOUR_FIELD ** 2 + DETAIL_FIELD ** 2
    other = basis[:, 5:5 + n_other]
    return attributes.astype(np.float32), other.astype(np.float32)


def _soft_inside(signed_distance, width=EDGE):
    return tf.sigmoid(-signed_distance / width)


def _upsampling_matrix(size):
    """[RESOLUTION, size] bilinear weights (half-pixel centres, edges clamped)."""
    centres = np.clip((np.arange(RESOLUTION) + 0.5) * size / RESOLUTION - 0.5, 0, size - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size - 1)
    weights = np.zeros((RESOLUTION, size), np.float32)
    weights[np.arange(RESOLUTION), low] += 1.0 - (centres - low)
    weights[np.arange(RESOLUTION), high] += centres - low
    return weights


def _ellipse(x, y, cx, cy, a, b):
    """Approximate signed distance to an axis-aligned ellipse (negative inside)."""
    r = tf.sqrt(tf.square((x - cx) / a) + tf.square((y - cy) / b) + 1e-6)
    return (r - 1.0) * tf.minimum(a, b)


def _band(y, centre, half_width):
    return _soft_inside(tf.abs(y - centre) - half_width, EDGE * 0.6)


def _paint(image, colour, alpha):
    alpha = alpha[..., None]
    return image * (1.0 - alpha) + colour * alpha


def _rgb(*c):
    return tf.constant(c, tf.float32)


def _mix(a, b, t):
    return a + (b - a) * t


class SyntheticFaces:
    """Callable generator: float32 z [N, 512] -> float32 images [N, 128, 128, 3] in [0, 1]."""

    handle = "synthetic"
    label = LABEL
    is_standin = True
    latent_dim = LATENT_DIM
    resolution = RESOLUTION
    template = CELEBA_PROGAN  # it stands in for ProGAN, and draws its faces in that window
    attribute_names = ATTRIBUTES

    def __init__(self):
        attributes, other = _directions()
        self.attribute_directions = dict(zip(ATTRIBUTES, attributes))
        projection = np.concatenate([attributes.T, other], axis=1)
        # Zero columns up to whole SIMD vectors, so that every face's row of
        # projections starts vector-aligned and rounds alike wherever it sits.
        padding = (-projection.shape[1]) % BATCH_MULTIPLE
        self._projection = tf.constant(np.pad(projection, [(0, 0), (0, padding)]))
        coords = (np.arange(RESOLUTION, dtype=np.float32) + 0.5) / RESOLUTION * 2.0 - 1.0
        self._x = tf.constant(coords[None, None, :])
        self._y = tf.constant(coords[None, :, None])
        self._upsample_colour = tf.constant(_upsampling_matrix(COLOUR_FIELD))
        self._upsample_detail = tf.constant(_upsampling_matrix(DETAIL_FIELD))
        self._project = tf.function(self._project_latent, input_signature=[
            tf.TensorSpec([None, LATENT_DIM], tf.float32)])
        self._render = tf.function(self._draw, jit_compile=True, input_signature=[
            tf.TensorSpec([None, self._projection.shape[1]], tf.float32)])

    def attribute_scores(self, z):
        """True attribute scores [N, 5] (columns in `attribute_names` order)."""
        directions = np.stack([self.attribute_directions[a] for a in ATTRIBUTES])
        return np.asarray(z, np.float64) @ directions.T.astype(np.float64)

    def __call__(self, z):
        z = tf.convert_to_tensor(z, tf.float32)
        n = tf.shape(z)[0]
        # XLA runs per-face scalars through SIMD lanes, and a batch's ragged tail
        # through scalar code that rounds differently: padding to whole vectors
        # keeps face i bit-identical whatever the batch size.
        padded = tf.pad(z, [[0, (-n) % BATCH_MULTIPLE], [0, 0]])
        return self._render(self._project(padded))[:n]

    def _project_latent(self, z):
        # Elementwise product + sum, not matmul: each face then depends on its own
        # latent only, bit for bit, whatever the batch size.
        return tf.reduce_sum(z[:, :, None] * self._projection[None], axis=1)

    def _draw(self, p):
        colour_field, detail_field = self._fields(p)
        look = _Look(p[:, :5], p[:, 5:5 + N_STYLE])
        x, y = self._x, self._y
        image = _background(look, y, colour_field)
        image = _shoulders_and_neck(image, look, x, y)
        image = _back_hair(image, look, x, y)
        image, face_mask = _head(image, look, x, y)
        image = _beard(image, look, y, face_mask)
        image = _top_hair(image, look, x, y)
        image = _wrinkles(image, look, x, y, face_mask)

        # The small features only ever fall between rows FEATURE_ROWS: draw them
        # there alone (sharp sigmoid edges leave nothing outside the band).
        above, band, below = (image[:, :FEATURE_ROWS[0]], image[:, FEATURE_ROWS[0]:FEATURE_ROWS[1]],
                              image[:, FEATURE_ROWS[1]:])
        band_y = y[:, FEATURE_ROWS[0]:FEATURE_ROWS[1]]
        for part in (_eyes_and_brows, _nose, _mouth, _eyeglasses):
            band = part(band, look, x, band_y)
        image = tf.concat([above, band, below], axis=1)

        return _light_and_texture(image, look, x, y, detail_field)

    def _fields(self, p):
        """The colour field [N, 128, 128, 3] and luminance texture [N, 128, 128, 1]:
        they give the directions beyond the style slots a small, smooth effect."""
        n = tf.shape(p)[0]
        n_colour = 3 * COLOUR_FIELD ** 2
        colour_field = tf.reshape(p[:, 5 + N_STYLE:5 + N_STYLE + n_colour],
                                  [n, COLOUR_FIELD, COLOUR_FIELD, 3])
        detail_field = tf.reshape(p[:, 5 + N_STYLE + n_colour:5 + N_STYLE + n_colour + DETAIL_FIELD ** 2],
                                  [n, DETAIL_FIELD, DETAIL_FIELD, 1])
        up_colour, up_detail = self._upsample_colour, self._upsample_detail
        colour_field = tf.einsum("hi,nijc,wj->nhwc", up_colour, colour_field, up_colour) * 0.045
        detail_field = tf.einsum("hi,nijc,wj->nhwc", up_detail, detail_field, up_detail) * 0.03
        return colour_field, detail_field


def _per_face(column):
    """[N] -> [N, 1, 1], to broadcast over the image's rows and columns."""
    return column[:, None, None]


class _Look:
    """What several parts share: named style slots, attribute strengths, where
    the head and its features sit, and the colours of skin, hair, eyes and lips.
    Worked out once so that every part lines up with the same head."""

    def __init__(self, scores, style):
        self.style = types.SimpleNamespace(**{
            name: squash(_per_face(style[:, column])) for column, (name, squash) in enumerate(STYLE_SLOTS)})
        s = self.style

        # Attributes: each a smooth monotone function of its true score.
        self.yaw = tf.tanh(0.6 * _per_face(scores[:, 0]))
        self.smile = tf.sigmoid(1.6 * _per_face(scores[:, 1]))
        self.age = tf.sigmoid(1.4 * _per_face(scores[:, 2]))
        self.male = tf.sigmoid(1.8 * _per_face(scores[:, 3]))
        self.glasses = tf.sigmoid(4.0 * (_per_face(scores[:, 4]) - 1.0))

        # Geometry. The head sits at (cx, cy); its features at fx, which follows the yaw.
        self.face_w = 0.40 + 0.03 * s.face_width + 0.03 * self.male
        self.face_h = 0.52 + 0.03 * s.face_height
        self.cx = 0.04 * s.head_x
        self.cy = 0.02 + 0.04 * s.head_y
        self.fx = self.cx + 0.05 * self.yaw
        self.upper_face_a = self.face_w * (1.0 - 0.1 * self.yaw ** 2)
        self.eye_sep = 0.15 + 0.015 * s.eye_spacing
        self.eye_size = 0.055 + 0.01 * s.eye_size
        self.eye_y = self.cy - 0.06 + 0.02 * s.eye_height
        self.mouth_y = self.cy + 0.27 + 0.02 * s.mouth_height
        self.hair_volume = s.hair_volume * (1.0 - 0.5 * self.male)  # men's, half as full

        # Colours [N, 1, 1, 3].
        skin = _mix(_rgb(0.36, 0.22, 0.15), _rgb(0.96, 0.80, 0.68), s.skin_tone[..., None])
        skin = skin + _rgb(0.05, 0.0, -0.05) * (s.skin_warmth - 0.5)[..., None]
        self.skin = skin * (1.0 - 0.10 * self.age[..., None])
        hair = _mix(_rgb(0.86, 0.70, 0.42), _rgb(0.09, 0.07, 0.06), s.hair_darkness[..., None])
        hair = hair + _rgb(0.22, 0.02, -0.04) * (s.hair_redness * (1.0 - s.hair_darkness))[..., None]
        self.hair = _mix(hair, _rgb(0.80, 0.80, 0.80), (0.9 * self.age ** 2)[..., None])
        self.iris = _mix(_mix(_rgb(0.35, 0.20, 0.08), _rgb(0.25, 0.45, 0.75), s.iris_blue[..., None]),
                         _rgb(0.25, 0.50, 0.30), (0.5 * s.iris_green)[..., None])
        self.lips = _mix(self.skin * 0.78, _rgb(0.78, 0.22, 0.27), (0.25 + 0.5 * (1.0 - self.male))[..., None])


# The parts, in drawing order. Each paints over what the earlier ones drew.

def _background(look, y, colour_field):
    s = look.style
    colour = tf.stack([0.1 + 0.8 * s.background_red, 0.1 + 0.8 * s.background_green,
                       0.1 + 0.8 * s.background_blue], axis=-1)
    return colour + (0.15 * s.background_gradient * y)[..., None] + colour_field


def _shoulders_and_neck(image, look, x, y):
    s = look.style
    clothes = tf.stack([0.1 + 0.8 * s.clothes_red, 0.1 + 0.8 * s.clothes_green,
                        0.1 + 0.8 * s.clothes_blue], axis=-1)
    image = _paint(image, clothes, _soft_inside(_ellipse(x, y, look.cx * 0.5, 1.18, 0.78, 0.45)))
    neck = tf.maximum(tf.abs(x - look.cx + 0.04 * look.yaw) - 0.14 - 0.02 * look.male, look.cy + 0.3 - y)
    return _paint(image, look.skin * 0.82, _soft_inside(neck))


def _back_hair(image, look, x, y):
    """Hair behind the head: long unless male."""
    male, growth = look.male, look.style.hair_length
    length = (1.0 - male) * (0.5 + 0.5 * growth) + male * 0.1 * growth
    back_hair = _ellipse(x, y, look.fx - 0.06 * look.yaw, look.cy + 0.05 + 0.25 * length,
                         look.face_w * (1.2 + 0.15 * look.hair_volume), look.face_h * 0.85 + 0.4 * length)
    return _paint(image, look.hair * 0.85, _soft_inside(back_hair))


def _head(image, look, x, y):
    """Ears, then the face over them, narrowing to the chin (less for men).
    Returns the face's mask too, to keep the beard and the wrinkles on the skin."""
    for side in (-1.0, 1.0):
        ear = _ellipse(x, y, look.fx + side * look.face_w * 0.98 - 0.12 * look.yaw, look.eye_y + 0.07,
                       0.05, 0.085)
        image = _paint(image, look.skin * 0.9, _soft_inside(ear))
    lower = tf.clip_by_value((y - look.cy) / look.face_h, 0.0, 1.0)
    face_a = look.upper_face_a * (1.0 - (0.2 - 0.1 * look.male) * lower)
    face_mask = _soft_inside(_ellipse(x, y, look.fx, look.cy, face_a, look.face_h))
    shade = (1.0 + 0.25 * look.style.light_side * (x - look.fx) / look.face_w
             - 0.12 * (tf.square((x - look.fx) / look.face_w) + tf.square((y - look.cy) / look.face_h)))
    return _paint(image, look.skin * shade[..., None], face_mask), face_mask


def _beard(image, look, y, face_mask):
    """A shadow for men, below a line just above the mouth."""
    beard = face_mask * look.male * look.style.beard * 0.5 * tf.sigmoid((y - look.mouth_y + 0.08) / 0.02)
    return _paint(image, look.hair * 0.7, beard)


def _top_hair(image, look, x, y):
    """Hair on top, with a hairline that comes down at the temples."""
    volume = look.hair_volume
    top = _ellipse(x, y, look.fx - 0.04 * look.yaw, look.cy - look.face_h * 0.25,
                   look.face_w * (1.06 + 0.1 * volume), look.face_h * (0.82 + 0.1 * volume))
    hairline = look.cy - look.face_h * 0.55 + 0.35 * look.face_h * tf.square((x - look.fx) / look.face_w)
    return _paint(image, look.hair, _soft_inside(top) * tf.sigmoid((hairline - y) / 0.02))


def _wrinkles(image, look, x, y, face_mask):
    """Forehead wrinkles with age."""
    wrinkles = sum(_band(y, look.cy - look.face_h * 0.42 + 0.035 * k, 0.004) for k in range(3))
    wrinkles = wrinkles * _soft_inside(tf.abs(x - look.fx) - look.face_w * 0.45) * face_mask
    return _paint(image, look.skin * 0.6, 0.6 * look.age ** 2 * wrinkles)


def _eye_x(look, side):
    """Centre of the eye on `side` (-1 left, +1 right): features shift further with yaw than the head."""
    return look.fx + 0.17 * look.yaw + side * look.eye_sep


def _eyes_and_brows(image, look, x, y):
    """One side's eye and brow, then the other's: soft edges never quite vanish,
    so the order of painting shows in the last bits of every pixel."""
    for side in (-1.0, 1.0):
        ex = _eye_x(look, side)
        image = _eye(image, look, x, y, side, ex)
        image = _brow(image, look, x, y, side, ex)
    return image


def _eye(image, look, x, y, side, ex):
    """White, iris, pupil, lid and, with age, a bag; the nearer eye grows with yaw."""
    size = look.eye_size * (1.0 - 0.25 * side * look.yaw)
    eye_y, yaw = look.eye_y, look.yaw
    white = _soft_inside(_ellipse(x, y, ex, eye_y, size, size * 0.55), EDGE * 0.7)
    image = _paint(image, _rgb(0.97, 0.97, 0.95), white)
    pupil_x = ex + 0.4 * size * yaw
    iris_d = _soft_inside(_ellipse(x, y, pupil_x, eye_y, size * 0.45, size * 0.45), EDGE * 0.5)
    image = _paint(image, look.iris, iris_d * white)
    pupil = _soft_inside(_ellipse(x, y, pupil_x, eye_y, size * 0.2, size * 0.2), EDGE * 0.5)
    image = _paint(image, _rgb(0.03, 0.03, 0.03), pupil * white)
    lid = _band(y, eye_y - size * 0.5 * (1.0 - tf.square((x - ex) / size)), 0.006)
    image = _paint(image, _rgb(0.15, 0.1, 0.08), lid * _soft_inside(tf.abs(x - ex) - size))
    bag = _band(y, eye_y + size * 0.9 * (1.0 - 0.5 * tf.square((x - ex) / size)), 0.005)
    return _paint(image, look.skin * 0.65, 0.7 * look.age * bag * _soft_inside(tf.abs(x - ex) - size * 0.8))


def _brow(image, look, x, y, side, ex):
    """An arched band above the eye, thicker for men."""
    s = look.style
    brow_y = look.eye_y - 0.065 - 0.015 * s.brow_height + side * 0.03 * s.brow_tilt * (x - ex) / 0.07
    arch = brow_y - 0.02 * (1.0 - tf.square((x - ex) / 0.075))
    brow = _band(y, arch, 0.008 + 0.008 * look.male) * _soft_inside(tf.abs(x - ex) - 0.075)
    return _paint(image, look.hair * 0.75, brow)


def _nose(image, look, x, y):
    """A faint ridge, shifted by the side light, and two nostrils."""
    s = look.style
    nose_len = 0.13 + 0.025 * s.nose_length
    nose_w = 0.035 + 0.01 * s.nose_width
    nx = look.fx + 0.24 * look.yaw
    ridge = _soft_inside(_ellipse(x, y, nx + 0.02 * s.light_side, look.eye_y + nose_len * 0.55,
                                  nose_w * 0.6, nose_len * 0.6), 0.03)
    image = _paint(image, look.skin * 0.8, 0.35 * ridge)
    for side in (-1.0, 1.0):
        nostril = _ellipse(x, y, nx + side * nose_w, look.eye_y + nose_len, 0.016, 0.01)
        image = _paint(image, look.skin * 0.45, _soft_inside(nostril, EDGE * 0.6))
    return image


def _mouth(image, look, x, y):
    """The smile raises the corners, widens and opens the mouth."""
    smile, mouth_y = look.smile, look.mouth_y
    lip = 0.018 + 0.006 * look.style.lip_thickness
    mx = look.fx + 0.18 * look.yaw
    mouth_w = 0.10 + 0.07 * smile
    u = (x - mx) / mouth_w
    upper = mouth_y + (0.05 * smile - 0.012) * (1.0 - tf.square(u))
    lower = upper + 0.09 * tf.square(smile) * (1.0 - tf.square(u))
    across = _soft_inside(tf.abs(x - mx) - mouth_w, EDGE * 0.6)
    opening = across * tf.sigmoid((y - upper) / 0.006) * tf.sigmoid((lower - y) / 0.006)
    teeth = tf.sigmoid((upper + 0.6 * (lower - upper) - y) / 0.006)[..., None]
    image = _paint(image, _mix(_rgb(0.35, 0.06, 0.07), _rgb(1.0, 1.0, 0.97), teeth), opening)
    image = _paint(image, look.lips, across * _band(y, upper - lip * 0.5, lip * 0.5))
    return _paint(image, look.lips, across * _band(y, lower + lip * 0.65, lip * 0.65))


def _eyeglasses(image, look, x, y):
    """Two rims with tinted lenses, their temples back to the head's edge, and a bridge."""
    fx, yaw, eye_y, eye_sep, glasses = look.fx, look.yaw, look.eye_y, look.eye_sep, look.glasses
    for side in (-1.0, 1.0):
        ex = _eye_x(look, side)
        rim = _ellipse(x, y, ex, eye_y + 0.005, 0.085, 0.065)
        image = _paint(image, _rgb(0.45, 0.5, 0.6), 0.3 * glasses * _soft_inside(rim))
        image = _paint(image, _rgb(0.05, 0.05, 0.07),
                       glasses * _soft_inside(tf.abs(rim) - 0.009, EDGE * 0.6))
        outer = ex + side * 0.085
        temple = _band(y, eye_y - 0.01, 0.007) * _soft_inside(
            side * (outer - x)) * _soft_inside(side * (x - fx) - look.upper_face_a * 1.02)
        image = _paint(image, _rgb(0.05, 0.05, 0.07), glasses * temple)
    bridge = _band(y, eye_y - 0.012, 0.007) * _soft_inside(tf.abs(x - fx - 0.17 * yaw)
                                                          - (eye_sep - 0.085))
    return _paint(image, _rgb(0.05, 0.05, 0.07), glasses * bridge)


def _light_and_texture(image, look, x, y, detail_field):
    """Lighting from the side, from below and overall, then the fine texture."""
    s = look.style
    light = 1.0 + 0.08 * s.brightness + 0.1 * s.light_side * x + 0.08 * s.light_vertical * y
    image = image * light[..., None] + detail_field
    return tf.clip_by_value(image, 0.0, 1.0)
