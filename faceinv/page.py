"""The web page of demo.py, in Gradio: its layout and what each control calls.

Every handler calls FaceEditor (faceinv/editing/face_editor.py), which calls the
functions the scripts use; what a visitor has made (their latents) lives in the
page's per-visitor state, never in module globals. A bad photo is one message
on the page, and the page keeps serving.
"""
import os
import uuid

import gradio as gr
import numpy as np
from PIL import Image

from faceinv import files
from faceinv.errors import InputError

# System fonts only: Gradio's default theme fetches web fonts, and the page must render offline.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
SLIDER_RANGE = 3.0  # InterFaceGAN's edits: up to 3 units either side of a boundary
IMAGE_HEIGHT = 192  # pixels on the page: the DCGAN's 64x64 faces are shown enlarged
THUMBNAIL_SIDE = 384


def launch_options():
    return {"theme": THEME, "footer_links": []}


def _image(face):
    return files.to_uint8(face) if face is not None else None


def _thumbnail(image, side=THUMBNAIL_SIDE):
    """The visitor's photo, small enough to send back to the page at once."""
    picture = Image.fromarray(image)
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(picture)


def build_page(editor, missing, out, settings):
    """The Blocks of the page; `missing` lists what could not be loaded, with the commands that make it."""
    downloads = os.path.join(os.path.abspath(out), "downloads")
    names = list(editor.boundaries)
    # The generator's label, plus a warning where a stand-in FaceNet trained the encoder.
    label = editor.encoder.label(editor.generator.label) if editor.encoder else editor.generator.label

    def save_download(latent, face, stem):
        folder = os.path.join(downloads, uuid.uuid4().hex[:12])
        os.makedirs(folder, exist_ok=True)
        files.save_npy(os.path.join(folder, f"{stem}_latent.npy"), latent)
        files.save_png(os.path.join(folder, f"{stem}.png"), files.to_uint8(face), label)
        return [os.path.join(folder, f"{stem}_latent.npy"), os.path.join(folder, f"{stem}.png")]

    def read_photo(path):
        if not path:
            raise InputError("upload a photo or take one with the webcam first")
        return files.to_uint8(files.read_image(path))

    def invert(upload, webcam, state):
        state = dict(state or {})
        path = upload or webcam
        try:
            image = read_photo(path)
            shown = {"photo": _thumbnail(image), "aligned": None, "reconstruction": None}
            for what, picture in editor.invert(image):
                if what == "done":
                    result = picture
                    break
                shown["aligned" if what == "aligned" else "reconstruction"] = _image(picture)
                yield *shown.values(), f"inverting: {what}", state, None
        except InputError as error:
            yield None, None, None, f"**error:** {error}", state, None
            return
        state.update(latent=result.latent, face=result.reconstruction, aligned=result.aligned)
        notes = "".join(f"\n- {note}" for note in result.notes)
        info = (f"**{result.how}**, {editor.steps} steps, {result.seconds:.1f} s. FaceNet identity similarity "
                f"of the reconstruction: **{result.similarity:.3f}** ({editor.facenet.label}).{notes}")
        yield (shown["photo"], _image(result.aligned), _image(result.reconstruction), info, state,
               save_download(result.latent, result.reconstruction, "reconstruction"))

    def edit(state, conditional, *amounts):
        if not state or "latent" not in state:
            return None, None, "invert a face first", state
        try:
            latent, face = editor.edit(state["latent"], dict(zip(names, amounts)), conditional)
        except InputError as error:
            return None, None, f"**error:** {error}", state
        state = dict(state, edited_latent=latent, edited=face)
        return _image(face), save_download(latent, face, "edited"), "", state

    def invert_second(path, state):
        state = dict(state or {})
        try:
            *_, (_, result) = editor.invert(read_photo(path))
        except InputError as error:
            return None, f"**error:** {error}", state
        state["second"] = result.latent
        return _image(result.reconstruction), "second face inverted: move the slider", state

    def interpolate(state, t):
        if not state or "latent" not in state or "second" not in state:
            return None, "invert both faces first", state
        _, face = editor.interpolate(state["latent"], state["second"], t)
        return _image(face), "", state

    def eyeglasses(state, direction):
        face = (state or {}).get("edited", (state or {}).get("face"))
        if face is None:
            return None, "invert a face first"
        return _image(editor.eyeglasses(face, direction)), ""

    with gr.Blocks(title="Inverse mapping of face GANs", analytics_enabled=False) as page:
        state = gr.State({})
        gr.Markdown(f"# Invert and edit a face\n{label}")
        if missing:
            gr.Markdown("\n".join(f"- {m}" for m in missing), elem_id="missing")
        with gr.Row():
            with gr.Column():
                # A file, not an image, upload: a file that is not a picture reaches read_image,
                # which says so, instead of failing inside Gradio.
                photo = gr.File(label="photo", file_types=["image"], type="filepath", elem_id="photo")
                webcam = gr.Image(sources=["webcam"], type="filepath", label="or the webcam", elem_id="webcam")
            shown_photo = gr.Image(label="the photo", interactive=False, height=IMAGE_HEIGHT, elem_id="shown-photo")
            aligned = gr.Image(label="aligned (MTCNN)", interactive=False, height=IMAGE_HEIGHT, elem_id="aligned")
            reconstruction = gr.Image(label="reconstruction", interactive=False, height=IMAGE_HEIGHT,
                                      elem_id="reconstruction")
        go = gr.Button("Invert", variant="primary", elem_id="invert")
        info = gr.Markdown(elem_id="info")
        latent_files = gr.File(label="downloads: latent (.npy) and reconstruction (.png)", interactive=False)
        gr.Markdown("## Edit along the InterFaceGAN boundaries")
        with gr.Row():
            with gr.Column():
                sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.25, label=name,
                                     elem_id=f"slider-{name}") for name in names]
                conditional = gr.Checkbox(False, label="conditional: hold the other attributes fixed")
            edited = gr.Image(label="edited", interactive=False, height=IMAGE_HEIGHT, elem_id="edited")
        edit_info = gr.Markdown(elem_id="edit-info")
        edit_files = gr.File(label="downloads: edited latent (.npy) and face (.png)", interactive=False)
        gr.Markdown("## Interpolate to a second face")
        with gr.Row():
            second_photo = gr.File(label="second photo", file_types=["image"], type="filepath")
            second = gr.Image(label="second reconstruction", interactive=False, height=IMAGE_HEIGHT)
            between = gr.Image(label="between", interactive=False, height=IMAGE_HEIGHT)
        with gr.Row():
            go_second = gr.Button("Invert the second face")
            t = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="from the first face (0) to the second (1)")
        if editor.inverter is not None:
            gr.Markdown(f"## Eyeglasses (attribute inverter: {editor.inverter.label})")
            with gr.Row():
                add = gr.Button("Add eyeglasses")
                remove = gr.Button("Remove eyeglasses")
                glasses = gr.Image(label="eyeglasses edit", interactive=False, height=IMAGE_HEIGHT)

        photo.upload(lambda: None, None, webcam)  # the newest photo is the one inverted
        webcam.input(lambda: None, None, photo)
        go.click(invert, [photo, webcam, state], [shown_photo, aligned, reconstruction, info, state, latent_files])
        for slider in sliders:
            slider.change(edit, [state, conditional, *sliders], [edited, edit_files, edit_info, state],
                          trigger_mode="always_last")
        conditional.change(edit, [state, conditional, *sliders], [edited, edit_files, edit_info, state])
        go_second.click(invert_second, [second_photo, state], [second, edit_info, state])
        t.change(interpolate, [state, t], [between, edit_info, state], trigger_mode="always_last")
        if editor.inverter is not None:
            add.click(lambda s: eyeglasses(s, "add"), [state], [glasses, edit_info])
            remove.click(lambda s: eyeglasses(s, "remove"), [state], [glasses, edit_info])
    return page

