"""The web page (demo.py): driven through its API and in a real headless Chromium.

Needs requirements-demo.txt (Gradio, Selenium) and Debian's chromium and
chromium-driver; .ci/run installs them. Without them these tests are skipped,
saying which is missing."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from skimage import data

pytest.importorskip("gradio", reason="the page needs requirements-demo.txt")
from gradio_client import Client, handle_file  # noqa: E402

import demo  # noqa: E402
from faceinv import config  # noqa: E402
from faceinv.editing import residual_gan  # noqa: E402
from faceinv.editing.face_editor import TunedGenerators  # noqa: E402
from faceinv.inversion import tuning  # noqa: E402
from faceinv.models.generators import load_generator  # noqa: E402

pytestmark = pytest.mark.slow
HANDLE = "dcgan-digiface"
TUNE_STEPS = 5  # enough to move the face a long way; the page's default is tuning.TUNE_STEPS


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    astronaut = Image.fromarray(data.astronaut())
    astronaut.save(folder / "astronaut.png")
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "mirrored.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    astronaut.resize((3000, 3000), Image.Resampling.BICUBIC).save(folder / "huge.png")
    pair = Image.new("RGB", (1024, 512))
    pair.paste(astronaut, (0, 0))
    pair.paste(astronaut.resize((256, 256)), (640, 128))
    pair.save(folder / "two_faces.png")
    (folder / "notes.jpg").write_text("not a picture")
    return folder


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page on a free loopback port: the DCGAN, no encoder (10 Adam steps), 5 tuning steps, the
    committed boundaries, and a tiny untrained inverter (the eyeglasses buttons need one). Yields
    (url, its folder, its FaceEditor)."""
    root = tmp_path_factory.mktemp("page")
    inverter = root / "inverter"
    models = [residual_gan.build_generator(name, 4, False) for name in ("add", "remove")]
    residual_gan.export_inverter(*models, str(inverter), {"size": 64, "label": "untrained test inverter"})
    flags = ["--encoder", "none", "--steps", "10", "--tune", str(TUNE_STEPS), "--tune-edit-steps", "2", "--inverter", str(inverter)]
    if os.environ.get("FACEINV_PAGE_SCREENSHOT"):  # docs/demo_page.png: the page as `python demo.py` serves it
        flags = []
    settings = config.parse(demo.Config, ["--generator", HANDLE, "--port", str(_free_port()),
                                          "--out", str(root / "out")] + flags)
    loaded, load_editor = {}, demo.load_editor

    def keep_editor(c):
        loaded["editor"], missing, c = load_editor(c)
        return loaded["editor"], missing, c

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "load_editor", keep_editor)
        app, url = demo.serve(settings, block=False)
    yield url, root / "out", loaded["editor"]
    app.close()


def _system_gradio_folder():
    folder = os.path.join(tempfile.gettempdir(), "gradio")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


def _invert(url, photo):
    """(info text, reconstruction, the downloaded latent) of one visitor's inversion."""
    client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="visitor"))
    shown, aligned, reconstruction, info, downloads = client.predict(handle_file(str(photo)), None,
                                                                     api_name="/invert")
    latent = np.load(downloads[0]) if downloads else None
    return info, reconstruction, latent, client


def test_api_inverts_edits_and_interpolates(page, photos):
    url, out, _ = page
    before = _system_gradio_folder()
    info, reconstruction, latent, client = _invert(url, photos / "astronaut.png")
    assert "identity similarity" in info and latent.shape == (1, 100)
    assert np.asarray(Image.open(reconstruction)).shape[:2] == (64, 64)
    still, _, message = client.predict(False, 0.0, 0.0, api_name="/edit")  # pose 0, smile 0: the same face
    moved, downloads, _ = client.predict(False, 3.0, 0.0, api_name="/edit")
    assert np.abs(np.asarray(Image.open(moved), float) - np.asarray(Image.open(still), float)).mean() > 2
    edited = np.load(downloads[0])
    assert np.linalg.norm(edited - latent) == pytest.approx(3.0, rel=1e-4)  # three units along a unit normal
    client.predict(handle_file(str(photos / "mirrored.png")), api_name="/invert_second")
    halfway, _ = client.predict(0.5, api_name="/interpolate")
    assert np.asarray(Image.open(halfway)).shape[:2] == (64, 64)
    # The page keeps uploads and downloads under its own folder, not the system's temporary one.
    assert list((out / "uploads").rglob("*.png")) and list((out / "downloads").rglob("edited_latent.npy"))
    assert _system_gradio_folder() == before


def test_two_visitors_at_once_each_get_their_own_face(page, photos):
    url, _, _ = page
    alone = {name: _invert(url, photos / name)[2] for name in ("astronaut.png", "mirrored.png")}
    together = {}
    threads = [threading.Thread(target=lambda n=name: together.__setitem__(n, _invert(url, photos / n)[2]))
               for name in alone]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in alone:
        np.testing.assert_array_equal(together[name], alone[name])
    assert not np.array_equal(alone["astronaut.png"], alone["mirrored.png"])


def test_bad_photos_are_one_message_and_the_page_keeps_serving(page, photos):
    url, _, _ = page
    for name, message in (("notes.jpg", "cannot read image"), ("coffee.png", "found no face")):
        info, reconstruction, latent, _ = _invert(url, photos / name)
        assert info.startswith("**error:**") and message in info and latent is None
    client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="visitor"))
    shown, _, _, info, downloads = client.predict(handle_file(str(photos / "huge.png")), None, api_name="/invert")
    assert "downscaled to 2048x2048" in info and downloads
    assert max(Image.open(shown).size) == 384  # the photo comes back as a thumbnail
    info, _, latent, _ = _invert(url, photos / "two_faces.png")
    assert "2 faces found: the largest is used" in info and latent is not None


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"), float)


def _rendered(generator, latent):
    """The face a generator draws for a latent, as the page sends it (uint8)."""
    return np.round(np.clip(np.asarray(generator(np.asarray(latent, np.float32)))[0], 0, 1) * 255)


def test_tuning_on_the_page_fits_the_face_and_the_edits_draw_with_it(page, photos):
    url, _, _ = page
    client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="visitor"))
    _, aligned, untuned, _, downloads = client.predict(handle_file(str(photos / "astronaut.png")), None,
                                                       api_name="/invert")
    tuned, info, files = client.predict(api_name="/tune")
    assert info.startswith(f"**tuned**, {TUNE_STEPS + 2} steps ({TUNE_STEPS} plain") and "PSNR" in info
    target = _pixels(aligned)
    assert np.abs(_pixels(tuned) - target).mean() < 0.8 * np.abs(_pixels(untuned) - target).mean()
    names = [os.path.basename(f) for f in files]
    assert names[:2] == [os.path.basename(f) for f in downloads]  # the inversion's downloads stay
    assert {"tuned.npz", "tuned.npz.sha256", "tuned.png"} <= set(names)
    latent = np.load(files[0])
    loaded, record = tuning.load_tuned(files[names.index("tuned.npz")], load_generator(HANDLE))
    np.testing.assert_allclose(record["pivot"], latent[0], rtol=1e-6)
    assert np.abs(_rendered(loaded, latent) - _pixels(tuned)).max() <= 1
    # The sliders draw with the tuned generator; after a new inversion, with the untuned one again.
    still, _, message = client.predict(False, 0.0, 0.0, api_name="/edit")
    assert np.array_equal(_pixels(still), _pixels(tuned)) and message == ""
    _, _, untuned, _, _ = client.predict(handle_file(str(photos / "mirrored.png")), None, api_name="/invert")
    still, _, _ = client.predict(False, 0.0, 0.0, api_name="/edit")
    assert np.array_equal(_pixels(still), _pixels(untuned))


def test_two_visitors_tuning_at_once_each_get_their_own_generator(page, photos):
    url, _, _ = page
    visitors = {}

    def visit(name):
        client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="visitor"))
        client.predict(handle_file(str(photos / name)), None, api_name="/invert")
        _, _, files = client.predict(api_name="/tune")
        edited, downloads, _ = client.predict(False, 2.0, 0.0, api_name="/edit")
        visitors[name] = (_pixels(edited), np.load(downloads[0]), next(f for f in files if f.endswith(".npz")))

    threads = [threading.Thread(target=visit, args=(name,)) for name in ("astronaut.png", "mirrored.png")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    generator = load_generator(HANDLE)
    (face_a, latent_a, file_a), (face_b, latent_b, file_b) = visitors.values()
    tuned_a, tuned_b = (tuning.load_tuned(path, generator)[0] for path in (file_a, file_b))
    assert np.abs(face_a - face_b).mean() > 5
    # Each edit is what its own tuned generator draws, and not what the other visitor's would.
    assert np.abs(_rendered(tuned_a, latent_a) - face_a).max() <= 1
    assert np.abs(_rendered(tuned_b, latent_b) - face_b).max() <= 1
    assert np.abs(_rendered(tuned_b, latent_a) - face_a).mean() > 5
    assert np.abs(_rendered(tuned_a, latent_b) - face_b).mean() > 5


def test_the_tuned_store_drops_the_least_recently_used_and_the_unused():
    a, b, c = object(), object(), object()
    store = TunedGenerators(cap=2, expiry_s=60)
    key_a, key_b = store.add(a), store.add(b)
    assert store.get(key_a) is a  # now b is the least recently used
    key_c = store.add(c)
    assert store.get(key_b) is None and store.get(key_a) is a and store.get(key_c) is c
    store = TunedGenerators(cap=1, expiry_s=60)
    key_a, key_b = store.add(a), store.add(b)
    assert store.get(key_a) is None and store.get(key_b) is b
    store = TunedGenerators(cap=4, expiry_s=0.5)
    key_a = store.add(a)
    for _ in range(2):  # each use restarts the clock: 0.6 s after adding it is still held
        time.sleep(0.3)
        assert store.get(key_a) is a
    time.sleep(0.6)
    assert store.get(key_a) is None
    assert store.get(TunedGenerators(expiry_s=0).add(a)) is None


def test_a_dropped_tuned_generator_is_one_line_and_the_edits_fall_back(page, photos, monkeypatch):
    url, _, editor = page
    client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="visitor"))
    _, _, untuned, _, _ = client.predict(handle_file(str(photos / "astronaut.png")), None, api_name="/invert")
    tuned, _, _ = client.predict(api_name="/tune")
    monkeypatch.setattr(editor.tuned, "expiry_s", 0.0)  # every tuned generator on the page expires
    still, _, message = client.predict(False, 0.0, 0.0, api_name="/edit")
    assert "tuned generator was dropped" in message and "tune again" in message and "\n" not in message
    assert np.array_equal(_pixels(still), _pixels(untuned)) and not np.array_equal(_pixels(still), _pixels(tuned))


def test_serving_beyond_loopback_needs_https(tmp_path, one_line_error):
    error = one_line_error(demo.main, ["--host", "0.0.0.0", "--out", str(tmp_path)])
    assert "--ssl-certfile" in error and "webcam" in error
    error = one_line_error(demo.main, ["--tune", "-1", "--out", str(tmp_path)])
    assert "--tune must be 0 (off) or a positive number of steps" in error


def test_with_a_certificate_it_serves_https(tmp_path, monkeypatch):
    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make a self-signed certificate")
    # Gradio's upload folder is process-wide: give the module's page its own back afterwards.
    monkeypatch.setenv("GRADIO_TEMP_DIR", os.environ["GRADIO_TEMP_DIR"])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    # The synthetic generator, which cannot be tuned: the page says so, and has no tune button.
    settings = config.parse(demo.Config, ["--generator", "synthetic", "--encoder", "none", "--inverter", "none",
                                          "--port", str(_free_port()), "--ssl-certfile", str(cert),
                                          "--ssl-keyfile", str(key), "--out", str(tmp_path / "out")])
    app, url = demo.serve(settings, block=False)
    try:
        assert url.startswith("https://127.0.0.1:")
        with urllib.request.urlopen(url, context=ssl._create_unverified_context()) as response:
            assert response.status == 200
            text = response.read().decode()
        assert "Invert and edit a face" in text and "cannot be tuned" in text and "Tune to this face" not in text
    finally:
        app.close()


@pytest.fixture
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2200"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _picture(driver, element_id):
    """The picture an output shows, fetched as the browser would, or None."""
    images = driver.find_elements("css selector", f"#{element_id} img")
    source = images[0].get_attribute("src") if images else None
    if not source:
        return None
    with urllib.request.urlopen(source) as response:
        from io import BytesIO
        return np.asarray(Image.open(BytesIO(response.read())).convert("RGB"), float)


def _wait(predicate, browser, what, seconds=240):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value is not None and value is not False and (not hasattr(value, "__len__") or len(value)):
            return value
        time.sleep(0.5)
    shot = os.path.join(tempfile.gettempdir(), "test_demo_failure.png")
    browser.save_screenshot(shot)
    raise AssertionError(f"the page did not {what} in {seconds} s (screenshot: {shot}); it reads: "
                         + browser.find_element("css selector", "body").text[:600].replace("\n", " | "))


def _drawn_height(driver, element_id):
    """How tall the page draws a face: its <img>'s height where the browser draws the picture over the
    whole element (nearest-neighbour, nothing over it), else 0."""
    from io import BytesIO
    image = driver.find_element("css selector", f"#{element_id} img")
    shot = np.asarray(Image.open(BytesIO(image.screenshot_as_png)).convert("RGB"), float)
    picture = Image.fromarray(_picture(driver, element_id).astype(np.uint8))
    enlarged = np.asarray(picture.resize(shot.shape[1::-1], Image.Resampling.NEAREST), float)
    return image.size["height"] if np.abs(shot - enlarged).mean() < 3 else 0


def test_in_a_browser_upload_invert_tune_and_move_a_slider(page, photos, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys
    url, _, _ = page
    browser.get(url)
    _wait(lambda: browser.find_elements("css selector", "#photo input[type=file]"), browser, "load")
    browser.find_element("css selector", "#photo input[type=file]").send_keys(str(photos / "astronaut.png"))
    _wait(lambda: "astronaut" in browser.find_element("css selector", "#photo").text, browser, "take the upload")
    browser.find_element("css selector", "#invert").click()
    _wait(lambda: "identity similarity" in browser.find_element("css selector", "#info").text, browser, "invert")
    assert _picture(browser, "reconstruction").shape == (64, 64, 3)
    browser.find_element("css selector", "#tune").click()
    _wait(lambda: "PSNR" in browser.find_element("css selector", "#tune-info").text, browser, "tune")
    target, untuned = _picture(browser, "aligned"), _picture(browser, "reconstruction")
    assert np.abs(_picture(browser, "tuned") - target).mean() < np.abs(untuned - target).mean()
    # The 64x64 faces are drawn about 192 px tall (faceinv/page.py's FACE_CSS), not at their own size.
    for element_id in ("aligned", "reconstruction", "tuned"):
        _wait(lambda: _drawn_height(browser, element_id) >= 150, browser, f"draw {element_id} large", 20)
    slider = browser.find_element("css selector", "#slider-pose input[type=range]")
    slider.send_keys(Keys.ARROW_RIGHT * 8)  # +2 units of pose
    first = _wait(lambda: _picture(browser, "edited"), browser, "show the edit")
    slider.send_keys(Keys.ARROW_LEFT * 16)  # to -2
    _wait(lambda: (lambda now: now is not None and np.abs(now - first).mean() > 2)(_picture(browser, "edited")),
          browser, "change the edit")
    _wait(lambda: _drawn_height(browser, "edited") >= 150, browser, "draw the edit large", 20)
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("FACEINV_PAGE_SCREENSHOT"):  # how docs/demo_page.png was made (docs/usage.md)
        browser.save_screenshot(os.environ["FACEINV_PAGE_SCREENSHOT"])
    # Offline by construction: every resource the page loaded came from the page's own server.
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    host = url.rstrip("/")
    assert loaded and all(name.startswith(host) or name.startswith("data:") or name.startswith("blob:")
                          for name in loaded), [n for n in loaded if not n.startswith(host)]
