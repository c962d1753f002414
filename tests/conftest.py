import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402

TINY_LABEL = "STAND-IN: tiny random ProGAN-architecture module for tests"
# Files of one long test (about 2 minutes each): under `-n 2 --dist loadfile
# --no-loadscope-reorder` they start first, while the other worker takes the rest.
LONG_FILES = ("test_pipeline.py", "test_pipeline_synthetic.py")


def pytest_collection_modifyitems(items):
    """The long one-test files first, then the others by their number of tests (the order
    xdist would give them, but for the long files, which it would start last)."""
    count = {}
    for item in items:
        count[item.path.name] = count.get(item.path.name, 0) + 1

    def rank(name):
        return (name not in LONG_FILES, LONG_FILES.index(name) if name in LONG_FILES else 0, -count[name], name)
    items.sort(key=lambda item: rank(item.path.name))  # stable: each file's tests keep their order


def latent_gradient(generator, latents):
    """The gradient of a generator's faces' mean distance from grey with respect to the
    latents, taken inside a tf.function as every optimiser in the package takes it."""
    import tensorflow as tf

    @tf.function
    def gradient(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.reduce_mean(tf.abs(generator(z) - 0.5))
        return tape.gradient(loss, z)
    return gradient(tf.constant(latents)).numpy()


@pytest.fixture(scope="session")
def synthetic():
    """The process-wide renderer that the scripts get too, so XLA compiles it once."""
    from faceinv.models.generators import load_generator
    return load_generator("synthetic")


@pytest.fixture(scope="session")
def tiny_module(tmp_path_factory):
    """A small random-weight module in the real progan-128 TF1 Hub format."""
    from faceinv.models import progan
    folder = tmp_path_factory.mktemp("modules") / "tiny_progan"
    return progan.export_hub_module(str(folder), TINY_LABEL, fmap_base=128, fmap_max=16)


@pytest.fixture
def one_line_error(capsys):
    """run(main, argv): assert that the script fails with exit code 2 and a single
    'error: ' line on stderr, and return that line."""
    from faceinv import cli

    def run(main, argv):
        with pytest.raises(SystemExit) as exit_info:
            cli.run(main, argv)
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and err.startswith("error: ") and "\n" not in err
        return err
    return run


@pytest.fixture
def no_shipped_encoder(tmp_path_factory, monkeypatch):
    """A checkout without weights/: the scripts must fall back as a user who deleted it would see."""
    from faceinv.inversion import encoder_choice
    monkeypatch.setattr(encoder_choice, "REPOSITORY", str(tmp_path_factory.mktemp("no_weights")))
