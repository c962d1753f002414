"""Progress bars for long loops (faces rendered, steps taken, photos scored)."""


def progress(total, unit="face"):
    """A progress bar over `total` items; call .add(k) as items finish."""
    import keras
    return keras.utils.Progbar(total, unit_name=unit)
