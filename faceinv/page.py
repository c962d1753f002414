"""The web page of demo.py, in Gradio: its layout and what each control calls.

Every handler calls FaceEditor (faceinv/editing/face_editor.py), which calls the
functions the scripts use; what a visitor has made (their latents) lives in the
page's per-visitor state, never in module globals. A visitor's tuned generator
is too big for that state: it is held in FaceEditor's store, and the state
holds its key. A bad photo is one message on the page, and the page keeps
serving.
"""
import dataclasses
import os
import uuid

import gradio as gr
import numpy as np
from PIL import Image

from faceinv import files
from faceinv.errors import InputError
from faceinv.inversion import tuning
from faceinv.models import weights_file
from faceinv.report import metrics

# System fonts only: Gradio's default theme fetches web fonts, and the page must render offline.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
SLIDER_RANGE = 3.0  # InterFaceGAN's edits: up to 3 units either side of a boundary
IMAGE_HEIGHT = 192  # pixels on the page: the DCGAN's 64x64 faces are shown enlarged (downloads stay 64x64)
THUMBNAIL_SIDE = 384
# Gradio fits a picture in its frame with object-fit: scale-down, which never enlarges, so a
# height alone left the 64x64 faces 64 px tall. The faces fill their frame, pixel for pixel,
# below the label Gradio floats over the frame's top edge (LABEL_SPACE pixels).
FACE_CLASS, LABEL_SPACE = "face", 32
FACE_CSS = (f".{FACE_CLASS} .image-frame {{ padding-top: {LABEL_SPACE}px; }} "
            f".{FACE_CLASS} img {{ object-fit: contain !important; image-rendering: pixelated; }}")


def launch_options():
    return {"theme": THEME, "css": FACE_CSS, "footer_links": []}


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

    def label_of(generator):
        """The generator's label, plus a warning where a stand-in FaceNet trained the encoder."""
        return editor.encoder.label(generator.label) if editor.encoder else generator.label

    expired = (f"your tuned generator was dropped (unused for {editor.tuned.expiry_s / 60:g} min, or "
               f"{editor.tuned.cap} newer ones tuned on this page): tune again; until then the untuned one draws")

    def save_download(latent, face, stem, generator):
        folder = os.path.join(downloads, uuid.uuid4().hex[:12])
        os.makedirs(folder, exist_ok=True)
        files.save_npy(os.path.join(folder, f"{stem}_latent.npy"), latent)
        files.save_png(os.path.join(folder, f"{stem}.png"), files.to_uint8(face), label_of(generator))
        return [os.path.join(folder, f"{stem}_latent.npy"), os.path.join(folder, f"{stem}.png")]

    def read_photo(path):
        if not path:
            raise InputError("upload a photo or take one with the webcam first")
        return files.to_uint8(files.read_image(path))

    def generator_of(state):
        """The visitor's tuned generator, else the untuned one; and a line where theirs was dropped."""
        if "tuned" not in state:
            return editor.generator, ""
        tuned = editor.tuned.get(state["tuned"])
        return (tuned, "") if tuned is not None else (editor.generator, expired)

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
        # A new face: its edits are drawn by the untuned generator until it is tuned in turn.
        editor.tuned.discard(state.pop("tuned", None))
        state.pop("edited_latent", None)
        reconstruction_files = save_download(result.latent, result.reconstruction, "reconstruction", editor.generator)
        state.update(latent=result.latent, aligned=result.aligned, photo=os.path.basename(path),
                     downloads=reconstruction_files)
        notes = "".join(f"\n- {note}" for note in result.notes)
        info = (f"**{result.how}**, {editor.steps} steps, {result.seconds:.1f} s. FaceNet identity similarity "
                f"of the reconstruction: **{result.similarity:.3f}** ({editor.facenet.label}).{notes}")
        yield (shown["photo"], _image(result.aligned), _image(result.reconstruction), info, state,
               reconstruction_files)

    def tune(state):
        state = dict(state or {})
        if "latent" not in state:
            yield None, "invert a face first", state, gr.skip()
            return
        try:
            for what, picture in editor.tune(state["aligned"], state["latent"]):
                if what == "done":
                    result = picture
                    break
                yield _image(picture), f"tuning: {what}", state, gr.skip()
        except InputError as error:
            yield None, f"**error:** {error}", state, gr.skip()
            return
        editor.tuned.discard(state.get("tuned"))
        state["tuned"] = result.key
        folder = os.path.dirname(state["downloads"][0])
        tuned_file = os.path.join(folder, "tuned.npz")
        tuning.save_tuned(tuned_file, result.generator,
                          {"photo": state["photo"], "face": 0, "pivot": state["latent"][0].tolist(),
                           "settings": dataclasses.asdict(editor.tune_settings)})
        files.save_png(os.path.join(folder, "tuned.png"), files.to_uint8(result.reconstruction),
                       label_of(result.generator))
        untuned_psnr, psnr = metrics.psnr(np.stack([state["aligned"]] * 2), result.faces)
        untuned_similarity, similarity = result.similarity
        info = (f"**tuned**, {editor.tune_steps} steps ({editor.tune_settings.steps} plain, then edit-aware), "
                f"{result.seconds:.1f} s. PSNR **{psnr:.1f} dB** "
                f"(untuned {untuned_psnr:.1f}), FaceNet identity similarity **{similarity:.3f}** (untuned "
                f"{untuned_similarity:.3f}). The edits below now draw with the tuned generator.")
        yield (_image(result.reconstruction), info, state,
               state["downloads"] + [tuned_file, tuned_file + weights_file.SHA_SUFFIX,
                                     os.path.join(folder, "tuned.png")])

    def edit(state, conditional, *amounts):
        if not state or "latent" not in state:
            return None, None, "invert a face first", state
        generator, note = generator_of(state)
        try:
            latent, face = editor.edit(state["latent"], dict(zip(names, amounts)), conditional, generator)
        except InputError as error:
            return None, None, f"**error:** {error}", state
        state = dict(state, edited_latent=latent)
        return _image(face), save_download(latent, face, "edited", generator), note, state

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
        generator, note = generator_of(state)
        _, face = editor.interpolate(state["latent"], state["second"], t, generator)
        return _image(face), note, state

    def eyeglasses(state, direction):
        if not state or "latent" not in state:
            return None, "invert a face first"
        generator, note = generator_of(state)
        face = editor.render(state.get("edited_latent", state["latent"]), generator)
        return _image(editor.eyeglasses(face, direction)), note

    def face_image(label, **options):
        """An output of the generator's faces, drawn about IMAGE_HEIGHT pixels tall (FACE_CSS), sent as
        PNG: Gradio's default, lossy WebP, blurs a 64x64 face."""
        return gr.Image(label=label, interactive=False, height=IMAGE_HEIGHT + LABEL_SPACE, format="png",
                        elem_classes=[FACE_CLASS], **options)

    with gr.Blocks(title="Inverse mapping of face GANs", analytics_enabled=False) as page:
        state = gr.State({})
        gr.Markdown(f"# Invert and edit a face\n{label_of(editor.generator)}")
        if missing:
            gr.Markdown("\n".join(f"- {m}" for m in missing), elem_id="missing")
        with gr.Row():
            with gr.Column():
                # A file, not an image, upload: a file that is not a picture reaches read_image,
                # which says so, instead of failing inside Gradio.
                photo = gr.File(label="photo", file_types=["image"], type="filepath", elem_id="photo")
                webcam = gr.Image(sources=["webcam"], type="filepath", label="or the webcam", elem_id="webcam")
            shown_photo = gr.Image(label="the photo", interactive=False, height=IMAGE_HEIGHT + LABEL_SPACE,
                                   elem_id="shown-photo")
            aligned = face_image("aligned (MTCNN)", elem_id="aligned")
            reconstruction = face_image("reconstruction", elem_id="reconstruction")
            if editor.can_tune:
                tuned = face_image("tuned generator", elem_id="tuned")
        with gr.Row():
            go = gr.Button("Invert", variant="primary", elem_id="invert")
            if editor.can_tune:
                go_tune = gr.Button("Tune to this face", elem_id="tune")
        info = gr.Markdown(elem_id="info")
        if editor.can_tune:
            tune_info = gr.Markdown(elem_id="tune-info")
        latent_files = gr.File(label="downloads: latent (.npy), reconstruction (.png)"
                               + (", tuned generator (.npz, .sha256, .png)" if editor.can_tune else ""),
                               interactive=False)
        gr.Markdown("## Edit along the InterFaceGAN boundaries")
        with gr.Row():
            with gr.Column():
                sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.25, label=name,
                                     elem_id=f"slider-{name}") for name in names]
                conditional = gr.Checkbox(False, label="conditional: hold the other attributes fixed")
            edited = face_image("edited", elem_id="edited")
        edit_info = gr.Markdown(elem_id="edit-info")
        edit_files = gr.File(label="downloads: edited latent (.npy) and face (.png)", interactive=False)
        gr.Markdown("## Interpolate to a second face")
        with gr.Row():
            second_photo = gr.File(label="second photo", file_types=["image"], type="filepath")
            second = face_image("second reconstruction")
            between = face_image("between")
        with gr.Row():
            go_second = gr.Button("Invert the second face")
            t = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="from the first face (0) to the second (1)")
        if editor.inverter is not None:
            gr.Markdown(f"## Eyeglasses (attribute inverter: {editor.inverter.label})")
            with gr.Row():
                add = gr.Button("Add eyeglasses")
                remove = gr.Button("Remove eyeglasses")
                glasses = face_image("eyeglasses edit")

        photo.upload(lambda: None, None, webcam)  # the newest photo is the one inverted
        webcam.input(lambda: None, None, photo)
        go.click(invert, [photo, webcam, state], [shown_photo, aligned, reconstruction, info, state, latent_files])
        if editor.can_tune:
            go.click(lambda: (None, ""), None, [tuned, tune_info], api_visibility="private")  # a new face, untuned
            go_tune.click(tune, [state], [tuned, tune_info, state, latent_files])
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
