"""Trained networks on disk: a SavedModel folder with a JSON meta file beside the graph.

Every exported network (the encoder, the attribute classifier, each half of the
attribute inverter) takes faces [N, H, W, 3] in [0, 1] under the signature
`serving_default` and is read back by `SavedModel`, so a folder written here
can be served without this package's code (TensorFlow Serving, the web page).
"""
import json
import os
import shutil

import tensorflow as tf

from faceinv import files
from faceinv.errors import InputError


class _Serving(tf.Module):
    def __init__(self, model, outputs):
        super().__init__()
        self.model, self.outputs = model, outputs

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="faces")])
    def serve(self, faces):
        results = self.model(faces, training=False)
        results = results if isinstance(results, (list, tuple)) else [results]
        return {name: tf.cast(r, tf.float32) for name, r in zip(self.outputs, results)}


def export(model, folder, meta, meta_file, outputs):
    """Write `model` (faces -> one output per name in `outputs`) and its meta; the
    folder appears whole or not at all, so a killed export never leaves half a model."""
    folder = os.path.abspath(folder)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    module = _Serving(model, tuple(outputs))
    tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
    with open(os.path.join(tmp, meta_file), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


class SavedModel:
    """An exported network: `model(faces)` -> {output name: float32 numpy array}, and `.meta`.
    `what` and `writer` make the error for a missing folder say what it is and which script makes it."""

    def __init__(self, folder, meta_file, what, writer):
        if not os.path.exists(os.path.join(folder, "saved_model.pb")):
            raise InputError(f"no exported {what} in {folder} ({writer} writes one)")
        self.folder = folder
        self._module = tf.saved_model.load(folder)
        self._serve = self._module.signatures["serving_default"]
        self.meta = files.load_json(os.path.join(folder, meta_file))

    def output_shape(self, name):
        return self._serve.structured_outputs[name].shape

    def __call__(self, faces):
        return {k: v.numpy() for k, v in self._serve(faces=tf.convert_to_tensor(faces, tf.float32)).items()}
