"""Align real face photos with MTCNN into the crops the encoder trains and is tested on.

Layouts of the source folder:
  vggface2  <source>/<identity>/<photo>: the paper's subset, identities with at
            least --min-images photos, --images-per-identity random photos from
            each of --identities random identities (seeded); 100/100/100 gives
            the paper's 10,000 photos
  ar        the AR face database as a folder of photos (m-001-01.bmp ...): all
            of them, the identity read from the file name
  folder    any folder of photos, searched recursively: all of them
Each photo's most confident face is mapped onto a fixed 5-landmark template
(ProGAN's CelebA framing) and saved as a --size crop. A photo with no face or a
corrupt file goes into skipped.csv with its reason. Rerun the same command
after a kill to finish the job.

    python prepare_real_faces.py                                    # VGGFace2 subset
    python prepare_real_faces.py --layout ar --source datasets/AR --out real_faces/ar
    python prepare_real_faces.py --layout folder --source my_photos --out real_faces/mine
    python resnet.py --real real_faces/vggface2/faces               # the paper's step 3
"""
import dataclasses
import os

from faceinv import cli, config
from faceinv.config import setting
from faceinv.data.alignment import MIN_FACE_SIZE
from faceinv.data.real_faces import FACES, LAYOUTS, SKIPPED, prepare, select_folder, select_vggface2
from faceinv.errors import InputError

PATH_VGGFACE2 = "datasets/vggface2/train"
PATH_REAL_FACES = "real_faces"


@dataclasses.dataclass
class Config:
    layout: str = setting("vggface2", "how the source folder is laid out (see above)", choices=LAYOUTS)
    source: str = setting(None, f"photo folder (default for vggface2: {PATH_VGGFACE2})", type=str)
    out: str = setting(None, f"output folder (default: {PATH_REAL_FACES}/<layout>)", type=str, output=True)
    min_images: int = setting(100, "vggface2: photos an identity needs")
    images_per_identity: int = setting(100, "vggface2")
    identities: int = setting(100, "vggface2")
    seed: int = setting(0, "vggface2: selection seed")
    size: int = setting(128, "crop size: 128 for the generator, 160 for FaceNet")
    min_face_size: int = setting(MIN_FACE_SIZE, "MTCNN's smallest face, pixels")
    workers: int = setting(os.cpu_count() or 1, "processes aligning in parallel (default: the CPUs)")


def resolve(c):
    if c.source is None and c.layout != "vggface2":
        raise InputError(f"--layout {c.layout} needs --source")
    return dataclasses.replace(c, source=c.source or PATH_VGGFACE2,
                               out=c.out or os.path.join(PATH_REAL_FACES, c.layout))


def align(c):
    c = resolve(c)
    if c.layout == "vggface2":
        selection_args = {"min_images": c.min_images, "images_per_identity": c.images_per_identity,
                          "identities": c.identities, "seed": c.seed}
        selection = select_vggface2(c.source, **selection_args)
    else:
        selection_args, selection = {}, select_folder(c.source, c.layout)
    identities = len({i for i, _ in selection if i})
    print(f"selected {len(selection)} photos" + (f" of {identities} identities" if identities else "")
          + f" from {c.source}")
    meta = prepare(c.source, c.out, selection, c.layout, c.size, c.workers, c.min_face_size,
                   selection_args)
    config.write(c.out, c)
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(meta["skipped_by_reason"].items()))
    print(f"aligned {meta['aligned']} of {meta['selected']} photos into {os.path.join(c.out, FACES)}; "
          f"skipped {meta['skipped']}{f' ({reasons})' if reasons else ''}: see {os.path.join(c.out, SKIPPED)}")
    return meta


def main(argv=None):
    align(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
