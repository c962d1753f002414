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
import numpy as np
import tensorflow as tf

from faceinv import alignment

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
N_STYLE = 32
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
    template = alignment.CELEBA_PROGAN  # it stands in for ProGAN, and draws its faces in that window
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
        n = tf.shape(p)[0]
        scores, style = p[:, :5], p[:, 5:5 + N_STYLE]
        n_colour = 3 * COLOUR_FIELD ** 2
        colour_field = tf.reshape(p[:, 5 + N_STYLE:5 + N_STYLE + n_colour],
                                  [n, COLOUR_FIELD, COLOUR_FIELD, 3])
        detail_field = tf.reshape(p[:, 5 + N_STYLE + n_colour:5 + N_STYLE + n_colour + DETAIL_FIELD ** 2],
                                  [n, DETAIL_FIELD, DETAIL_FIELD, 1])
        up_colour, up_detail = self._upsample_colour, self._upsample_detail
        colour_field = tf.einsum("hi,nijc,wj->nhwc", up_colour, colour_field, up_colour) * 0.045
        detail_field = tf.einsum("hi,nijc,wj->nhwc", up_detail, detail_field, up_detail) * 0.03

        def scalar(column):
            return column[:, None, None]

        def colour(*columns):
            return tf.stack(columns, axis=-1)

        s = [scalar(style[:, i]) for i in range(N_STYLE)]
        t = [tf.tanh(v) for v in s]
        g = [tf.sigmoid(v) for v in s]
        yaw = tf.tanh(0.6 * scalar(scores[:, 0]))
        smile = tf.sigmoid(1.6 * scalar(scores[:, 1]))
        age = tf.sigmoid(1.4 * scalar(scores[:, 2]))
        male = tf.sigmoid(1.8 * scalar(scores[:, 3]))
        glasses = tf.sigmoid(4.0 * (scalar(scores[:, 4]) - 1.0))
        x, y = self._x, self._y

        # Geometry.
        face_w = 0.40 + 0.03 * t[0] + 0.03 * male
        face_h = 0.52 + 0.03 * t[1]
        cx = 0.04 * t[2]
        cy = 0.02 + 0.04 * t[3]
        fx = cx + 0.05 * yaw
        eye_sep = 0.15 + 0.015 * t[17]
        eye_size = 0.055 + 0.01 * t[18]
        eye_y = cy - 0.06 + 0.02 * t[21]
        nose_len = 0.13 + 0.025 * t[22]
        nose_w = 0.035 + 0.01 * t[23]
        mouth_y = cy + 0.27 + 0.02 * t[24]
        lip = 0.018 + 0.006 * t[25]

        # Colours.
        skin = _mix(_rgb(0.36, 0.22, 0.15), _rgb(0.96, 0.80, 0.68), g[4][..., None])
        skin = skin + _rgb(0.05, 0.0, -0.05) * (g[5] - 0.5)[..., None]
        skin = skin * (1.0 - 0.10 * age[..., None])
        hair = _mix(_rgb(0.86, 0.70, 0.42), _rgb(0.09, 0.07, 0.06), g[6][..., None])
        hair = hair + _rgb(0.22, 0.02, -0.04) * (g[7] * (1.0 - g[6]))[..., None]
        hair = _mix(hair, _rgb(0.80, 0.80, 0.80), (0.9 * age ** 2)[..., None])
        background = colour(0.1 + 0.8 * g[10], 0.1 + 0.8 * g[11], 0.1 + 0.8 * g[12])
        clothes = colour(0.1 + 0.8 * g[14], 0.1 + 0.8 * g[15], 0.1 + 0.8 * g[16])
        iris = _mix(_mix(_rgb(0.35, 0.20, 0.08), _rgb(0.25, 0.45, 0.75), g[19][..., None]),
                    _rgb(0.25, 0.50, 0.30), (0.5 * g[20])[..., None])
        lips = _mix(skin * 0.78, _rgb(0.78, 0.22, 0.27), (0.25 + 0.5 * (1.0 - male))[..., None])

        image = background + (0.15 * t[13] * y)[..., None] + colour_field

        # Shoulders and neck.
        image = _paint(image, clothes, _soft_inside(_ellipse(x, y, cx * 0.5, 1.18, 0.78, 0.45)))
        neck = tf.maximum(tf.abs(x - cx + 0.04 * yaw) - 0.14 - 0.02 * male, cy + 0.3 - y)
        image = _paint(image, skin * 0.82, _soft_inside(neck))

        # Hair behind the head: long unless male.
        length = (1.0 - male) * (0.5 + 0.5 * g[8]) + male * 0.1 * g[8]
        volume = g[9] * (1.0 - 0.5 * male)
        back_hair = _ellipse(x, y, fx - 0.06 * yaw, cy + 0.05 + 0.25 * length,
                             face_w * (1.2 + 0.15 * volume), face_h * 0.85 + 0.4 * length)
        image = _paint(image, hair * 0.85, _soft_inside(back_hair))

        # Ears, then the face.
        for side in (-1.0, 1.0):
            ear = _ellipse(x, y, fx + side * face_w * 0.98 - 0.12 * yaw, eye_y + 0.07, 0.05, 0.085)
            image = _paint(image, skin * 0.9, _soft_inside(ear))
        upper_face_a = face_w * (1.0 - 0.1 * yaw ** 2)
        lower = tf.clip_by_value((y - cy) / face_h, 0.0, 1.0)
        face_a = upper_face_a * (1.0 - (0.2 - 0.1 * male) * lower)
        face = _soft_inside(_ellipse(x, y, fx, cy, face_a, face_h))
        shade = (1.0 + 0.25 * t[28] * (x - fx) / face_w
                 - 0.12 * (tf.square((x - fx) / face_w) + tf.square((y - cy) / face_h)))
        image = _paint(image, skin * shade[..., None], face)

        # Beard shadow for men.
        beard = face * male * g[31] * 0.5 * tf.sigmoid((y - mouth_y + 0.08) / 0.02)
        image = _paint(image, hair * 0.7, beard)

        # Hair on top, with a hairline that comes down at the temples.
        top = _ellipse(x, y, fx - 0.04 * yaw, cy - face_h * 0.25,
                       face_w * (1.06 + 0.1 * volume), face_h * (0.82 + 0.1 * volume))
        hairline = cy - face_h * 0.55 + 0.35 * face_h * tf.square((x - fx) / face_w)
        image = _paint(image, hair, _soft_inside(top) * tf.sigmoid((hairline - y) / 0.02))

        # Forehead wrinkles with age.
        wrinkles = sum(_band(y, cy - face_h * 0.42 + 0.035 * k, 0.004) for k in range(3))
        wrinkles = wrinkles * _soft_inside(tf.abs(x - fx) - face_w * 0.45) * face
        image = _paint(image, skin * 0.6, 0.6 * age ** 2 * wrinkles)

        # The small features only ever fall between rows FEATURE_ROWS: draw them
        # there alone (sharp sigmoid edges leave nothing outside the band).
        top, image, bottom = (image[:, :FEATURE_ROWS[0]], image[:, FEATURE_ROWS[0]:FEATURE_ROWS[1]],
                              image[:, FEATURE_ROWS[1]:])
        y = y[:, FEATURE_ROWS[0]:FEATURE_ROWS[1]]

        # Eyes and brows; features shift with yaw, the nearer eye grows.
        for side in (-1.0, 1.0):
            ex = fx + 0.17 * yaw + side * eye_sep
            size = eye_size * (1.0 - 0.25 * side * yaw)
            white = _soft_inside(_ellipse(x, y, ex, eye_y, size, size * 0.55), EDGE * 0.7)
            image = _paint(image, _rgb(0.97, 0.97, 0.95), white)
            pupil_x = ex + 0.4 * size * yaw
            iris_d = _soft_inside(_ellipse(x, y, pupil_x, eye_y, size * 0.45, size * 0.45), EDGE * 0.5)
            image = _paint(image, iris, iris_d * white)
            pupil = _soft_inside(_ellipse(x, y, pupil_x, eye_y, size * 0.2, size * 0.2), EDGE * 0.5)
            image = _paint(image, _rgb(0.03, 0.03, 0.03), pupil * white)
            lid = _band(y, eye_y - size * 0.5 * (1.0 - tf.square((x - ex) / size)), 0.006)
            image = _paint(image, _rgb(0.15, 0.1, 0.08), lid * _soft_inside(tf.abs(x - ex) - size))
            bag = _band(y, eye_y + size * 0.9 * (1.0 - 0.5 * tf.square((x - ex) / size)), 0.005)
            image = _paint(image, skin * 0.65, 0.7 * age * bag * _soft_inside(tf.abs(x - ex) - size * 0.8))
            brow_y = eye_y - 0.065 - 0.015 * t[26] + side * 0.03 * t[27] * (x - ex) / 0.07
            arch = brow_y - 0.02 * (1.0 - tf.square((x - ex) / 0.075))
            brow = _band(y, arch, 0.008 + 0.008 * male) * _soft_inside(tf.abs(x - ex) - 0.075)
            image = _paint(image, hair * 0.75, brow)

        # Nose.
        nx = fx + 0.24 * yaw
        ridge = _soft_inside(_ellipse(x, y, nx + 0.02 * t[28], eye_y + nose_len * 0.55,
                                      nose_w * 0.6, nose_len * 0.6), 0.03)
        image = _paint(image, skin * 0.8, 0.35 * ridge)
        for side in (-1.0, 1.0):
            nostril = _ellipse(x, y, nx + side * nose_w, eye_y + nose_len, 0.016, 0.01)
            image = _paint(image, skin * 0.45, _soft_inside(nostril, EDGE * 0.6))

        # Mouth: the smile raises the corners, widens and opens it.
        mx = fx + 0.18 * yaw
        mouth_w = 0.10 + 0.07 * smile
        u = (x - mx) / mouth_w
        upper = mouth_y + (0.05 * smile - 0.012) * (1.0 - tf.square(u))
        lower = upper + 0.09 * tf.square(smile) * (1.0 - tf.square(u))
        across = _soft_inside(tf.abs(x - mx) - mouth_w, EDGE * 0.6)
        opening = across * tf.sigmoid((y - upper) / 0.006) * tf.sigmoid((lower - y) / 0.006)
        teeth = tf.sigmoid((upper + 0.6 * (lower - upper) - y) / 0.006)[..., None]
        image = _paint(image, _mix(_rgb(0.35, 0.06, 0.07), _rgb(1.0, 1.0, 0.97), teeth), opening)
        image = _paint(image, lips, across * _band(y, upper - lip * 0.5, lip * 0.5))
        image = _paint(image, lips, across * _band(y, lower + lip * 0.65, lip * 0.65))

        # Eyeglasses: two rims, a bridge, tinted lenses and the temples.
        for side in (-1.0, 1.0):
            ex = fx + 0.17 * yaw + side * eye_sep
            rim = _ellipse(x, y, ex, eye_y + 0.005, 0.085, 0.065)
            image = _paint(image, _rgb(0.45, 0.5, 0.6), 0.3 * glasses * _soft_inside(rim))
            image = _paint(image, _rgb(0.05, 0.05, 0.07),
                           glasses * _soft_inside(tf.abs(rim) - 0.009, EDGE * 0.6))
            outer = ex + side * 0.085
            temple = _band(y, eye_y - 0.01, 0.007) * _soft_inside(
                side * (outer - x)) * _soft_inside(side * (x - fx) - upper_face_a * 1.02)
            image = _paint(image, _rgb(0.05, 0.05, 0.07), glasses * temple)
        bridge = _band(y, eye_y - 0.012, 0.007) * _soft_inside(tf.abs(x - fx - 0.17 * yaw)
                                                              - (eye_sep - 0.085))
        image = _paint(image, _rgb(0.05, 0.05, 0.07), glasses * bridge)

        image = tf.concat([top, image, bottom], axis=1)
        y = self._y
        light = 1.0 + 0.08 * t[30] + 0.1 * t[28] * x + 0.08 * t[29] * y
        image = image * light[..., None] + detail_field
        return tf.clip_by_value(image, 0.0, 1.0)
