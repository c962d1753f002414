"""tests/test_pipeline.py's whole workflow on the synthetic renderer (512-d latents,
128x128 faces, ProGAN's sizes): a file of its own, so that `pytest -n 2 --dist
loadfile` runs it beside the DCGAN's."""
import pytest
from test_pipeline import check_every_step


@pytest.mark.slow
def test_every_step_takes_its_sizes_from_the_synthetic_renderer(tmp_path, monkeypatch, capsys):
    check_every_step("synthetic", tmp_path, monkeypatch, capsys)
