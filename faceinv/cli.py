"""The command-line layer, imported by entry scripts only: quiet TensorFlow, one-line errors."""
import os
import sys

from faceinv.errors import InputError, TrainingDiverged


def _import_tensorflow_quietly():
    """TensorFlow's C++ start-up chatter (CUDA probing on machines without a GPU)
    ignores its own log level; hide it unless the user set TF_CPP_MIN_LOG_LEVEL.
    Worker processes inherit the marker, so they are quiet too."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ and "FACEINV_QUIET_TF" not in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["FACEINV_QUIET_TF"] = "1"
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()


def run(main, argv=None):
    """Run a script's main(argv); bad input ends it with one line and exit code 2,
    a diverged training run with one line and exit code 3."""
    try:
        return main(argv)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(3) from None
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None

