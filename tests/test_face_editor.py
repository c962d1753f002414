"""What the web page does with a face (faceinv/editing/face_editor.py), without the page."""
import numpy as np
import pytest
from PIL import Image
from skimage import data

from faceinv.editing import residual_gan
from faceinv.editing.face_editor import SNAPSHOTS, FaceEditor
from faceinv.inversion.gradient_recovery import INIT_SEED, ImageLoss, recover_latents
from faceinv.models.facenet import load_facenet
from faceinv.models.generators import load_generator, sample_latents


@pytest.fixture(scope="module")
def editor():
    generator = load_generator("dcgan-digiface")
    rng = np.random.default_rng(0)
    pose, smile = rng.standard_normal((2, generator.latent_dim))
    smile = smile + 2 * pose  # correlated boundaries, as real attributes are
    boundaries = {"pose": pose / np.linalg.norm(pose), "smile": smile / np.linalg.norm(smile)}
    return FaceEditor(generator, None, None, 6, 0.01, boundaries, _Inverter(*map(_shifting_generator, SHIFT), 32))


# Stand-in eyeglasses generators that do recognisable things, so an edit shows which
# of the two ran: `add` brightens every pixel by tanh(0.3), `remove` darkens it as much.
SHIFT = {"add": np.tanh(0.3), "remove": -np.tanh(0.3)}


def _shifting_generator(direction):
    """An untrained residual generator (the identity) whose residual layer, with its
    zero kernel, now adds the constant SHIFT[direction] to every pixel."""
    model = residual_gan.build_generator(direction, 4, False)
    last = model.get_layer("residual_conv")
    kernel, bias = last.get_weights()
    last.set_weights([kernel, np.full_like(bias, np.arctanh(SHIFT[direction]))])
    return model


class _Inverter:
    """LoadedInverter's interface on in-memory models of another size than the generator's faces."""

    def __init__(self, add, remove, size):
        self.models, self.size, self.label = {"add": add, "remove": remove}, size, "test"

    def __call__(self, faces, direction):
        assert faces.shape[1:3] == (self.size, self.size)
        edited, residual = self.models[direction](faces, training=False)
        return edited.numpy(), residual.numpy()


def test_a_slider_moves_along_its_boundary_and_conditional_holds_the_other(editor):
    latent = sample_latents(1, 0, editor.generator.latent_dim)
    moved, face = editor.edit(latent, {"pose": 0.0, "smile": 2.0})
    np.testing.assert_allclose(moved - latent, 2.0 * editor.boundaries["smile"][None], atol=1e-5)
    assert face.shape == (64, 64, 3)
    held, _ = editor.edit(latent, {"smile": 2.0}, conditional=True)
    change = (held - latent)[0]
    assert abs(change @ editor.boundaries["pose"]) < 1e-4  # pose untouched
    assert change @ editor.boundaries["smile"] > 0.5       # smile still moved
    assert np.array_equal(editor.edit(latent, {"pose": 0.0, "smile": 0.0})[0], latent)


def test_interpolation_runs_from_one_face_to_the_other(editor):
    a, b = sample_latents(2, 1, editor.generator.latent_dim)[:, None]
    np.testing.assert_allclose(editor.interpolate(a, b, 0.0)[0], a, atol=1e-5)
    np.testing.assert_allclose(editor.interpolate(a, b, 1.0)[0], b, atol=1e-5)


@pytest.mark.slow
def test_invert_streams_its_steps_and_ends_where_the_scripts_would(editor):
    editor.facenet = load_facenet("sandberg-20180408")  # the identity similarity
    photo = data.astronaut()
    stages = list(editor.invert(photo))
    names = [name for name, _ in stages]
    assert names[0] == "aligned" and names[-1] == "done" and 1 <= len(names) - 2 <= SNAPSHOTS
    result = stages[-1][1]
    alone = recover_latents(editor.generator, result.aligned[None], sample_latents(1, INIT_SEED, 100),
                            ImageLoss({"mae": 1.0}), 6, 0.01, seed=INIT_SEED, batch_size=1)
    np.testing.assert_array_equal(result.latent, alone.latents)
    assert result.how == "Adam" and result.notes == []
    # FaceNet's cosine of the aligned face and the reconstruction, recomputed by hand.
    _, embeddings = editor.facenet(np.stack([result.aligned, result.reconstruction]))
    assert np.isfinite(result.similarity)
    assert result.similarity == pytest.approx(float(np.sum(np.asarray(embeddings[0]) * np.asarray(embeddings[1]))),
                                              abs=1e-5)
    big = np.asarray(Image.fromarray(photo).resize((2600, 2600)))
    aligned, notes = editor.prepare(big)
    assert notes[0] == "the photo (2600x2600) was downscaled to 2048x2048" and aligned.shape == (64, 64, 3)


def test_eyeglasses_work_at_the_inverters_size_and_return_the_faces(editor):
    face = editor.render(sample_latents(1, 2, editor.generator.latent_dim))
    for direction in ("add", "remove"):
        edited = editor.eyeglasses(face, direction)
        assert edited.shape == face.shape
        # The face comes back, resized twice, shifted by that direction's generator and not the other's.
        assert np.abs(edited - np.clip(face + SHIFT[direction], 0, 1)).mean() < 0.05, direction
        assert np.sign(edited.mean() - face.mean()) == np.sign(SHIFT[direction]), direction
