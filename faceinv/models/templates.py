"""Where the five face landmarks sit in a generator's faces: its framing.

Each generator names its template (`generator.template`); data.alignment maps a
photo's MTCNN landmarks onto it, so that a real face is framed like the faces
the generator draws. The template lives with the networks, not with the
alignment code, so that the models need nothing from the data stage.

CELEBA_PROGAN, the template of ProGAN's CelebA faces: CelebA's aligned
178x218 images have their landmarks near (69, 111), (108, 111), (88, 136),
(72, 152), (105, 152) (eyes, nose, mouth corners, left to right as seen in the
image); ProGAN's dataset tool cuts the 128x128 window centred on (89, 121),
which moves them by (-25, -57). Other crop sizes (160 for FaceNet) scale the
same template. A generator trained on other crops gets its template from its
own faces: `alignment.mean_landmarks` averages MTCNN's landmarks over many of them.

Landmark coordinates are in pixels, (x, y), with pixel i's centre at i + 0.5:
the convention PIL's transforms use, so a mirrored photo's landmarks are
exactly width - x.
"""
import dataclasses

import numpy as np

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # image left/right


@dataclasses.dataclass(frozen=True, eq=False)
class Template:
    """Where the five landmarks sit in a generator's size x size faces: its framing."""
    framing: str
    points: np.ndarray      # [5, 2], (x, y) pixels, in LANDMARK_NAMES order
    size: int

    def at(self, size):
        """The five points for a size x size crop of the same framing."""
        return self.points * (size / self.size)


CELEBA_PROGAN = Template("ProGAN's 128x128 CelebA window",
                         np.array([[44.0, 54.0], [83.0, 54.0], [63.0, 79.0], [47.0, 95.0], [80.0, 95.0]]), 128)
