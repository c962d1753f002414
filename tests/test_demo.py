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

pytestmark = pytest.mark.slow
HANDLE = "dcgan-digiface"


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
    """The page on a free loopback port: the DCGAN, no encoder (10 Adam steps), the committed
    boundaries, and a tiny untrained inverter (the eyeglasses buttons need one)."""
    root = tmp_path_factory.mktemp("page")
    inverter = root / "inverter"
    models = [residual_gan.build_generator(name, 4, False) for name in ("add", "remove")]
    residual_gan.export_inverter(*models, str(inverter), {"size": 64, "label": "untrained test inverter"})
    flags = ["--encoder", "none", "--steps", "10", "--inverter", str(inverter)]
    if os.environ.get("FACEINV_PAGE_SCREENSHOT"):  # docs/demo_page.png: the page as `python demo.py` serves it
        flags = []
    settings = config.parse(demo.Config, ["--generator", HANDLE, "--port", str(_free_port()),
                                          "--out", str(root / "out")] + flags)
    app, url = demo.serve(settings, block=False)
    yield url, root / "out"
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
    url, out = page
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
    url, _ = page
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
    url, _ = page
    for name, message in (("notes.jpg", "cannot read image"), ("coffee.png", "found no face")):
        info, reconstruction, latent, _ = _invert(url, photos / name)
        assert info.startswith("**error:**") and message in info and latent is None
    client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="visitor"))
    shown, _, _, info, downloads = client.predict(handle_file(str(photos / "huge.png")), None, api_name="/invert")
    assert "downscaled to 2048x2048" in info and downloads
    assert max(Image.open(shown).size) == 384  # the photo comes back as a thumbnail
    info, _, latent, _ = _invert(url, photos / "two_faces.png")
    assert "2 faces found: the largest is used" in info and latent is not None


def test_serving_beyond_loopback_needs_https(tmp_path, one_line_error):
    error = one_line_error(demo.main, ["--host", "0.0.0.0", "--out", str(tmp_path)])
    assert "--ssl-certfile" in error and "webcam" in error


def test_with_a_certificate_it_serves_https(tmp_path, monkeypatch):
    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make a self-signed certificate")
    # Gradio's upload folder is process-wide: give the module's page its own back afterwards.
    monkeypatch.setenv("GRADIO_TEMP_DIR", os.environ["GRADIO_TEMP_DIR"])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    settings = config.parse(demo.Config, ["--encoder", "none", "--inverter", "none", "--port", str(_free_port()),
                                          "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                                          "--out", str(tmp_path / "out")])
    app, url = demo.serve(settings, block=False)
    try:
        assert url.startswith("https://127.0.0.1:")
        with urllib.request.urlopen(url, context=ssl._create_unverified_context()) as response:
            assert response.status == 200 and "Invert and edit a face" in response.read().decode()
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


def test_in_a_browser_upload_invert_and_move_a_slider(page, photos, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys
    url, _ = page
    browser.get(url)
    _wait(lambda: browser.find_elements("css selector", "#photo input[type=file]"), browser, "load")
    browser.find_element("css selector", "#photo input[type=file]").send_keys(str(photos / "astronaut.png"))
    _wait(lambda: "astronaut" in browser.find_element("css selector", "#photo").text, browser, "take the upload")
    browser.find_element("css selector", "#invert").click()
    _wait(lambda: "identity similarity" in browser.find_element("css selector", "#info").text, browser, "invert")
    assert _picture(browser, "reconstruction").shape == (64, 64, 3)
    slider = browser.find_element("css selector", "#slider-pose input[type=range]")
    slider.send_keys(Keys.ARROW_RIGHT * 8)  # +2 units of pose
    first = _wait(lambda: _picture(browser, "edited"), browser, "show the edit")
    slider.send_keys(Keys.ARROW_LEFT * 16)  # to -2
    _wait(lambda: (lambda now: now is not None and np.abs(now - first).mean() > 2)(_picture(browser, "edited")),
          browser, "change the edit")
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("FACEINV_PAGE_SCREENSHOT"):  # how docs/demo_page.png was made (docs/usage.md)
        browser.save_screenshot(os.environ["FACEINV_PAGE_SCREENSHOT"])
    # Offline by construction: every resource the page loaded came from the page's own server.
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    host = url.rstrip("/")
    assert loaded and all(name.startswith(host) or name.startswith("data:") or name.startswith("blob:")
                          for name in loaded), [n for n in loaded if not n.startswith(host)]
