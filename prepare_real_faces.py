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
import argparse
import os

from faceinv import cli
from faceinv.real_faces import FACES, LAYOUTS, SKIPPED, prepare, select_folder, select_vggface2

PATH_VGGFACE2 = "datasets/vggface2/train"
PATH_REAL_FACES = "real_faces"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", choices=LAYOUTS, default="vggface2", help="(default: %(default)s)")
    p.add_argument("--source", help=f"photo folder (default for vggface2: {PATH_VGGFACE2})")
    p.add_argument("--out", help=f"output folder (default: {PATH_REAL_FACES}/<layout>)")
    p.add_argument("--min-images", type=int, default=100, help="vggface2: photos an identity needs")
    p.add_argument("--images-per-identity", type=int, default=100, help="vggface2")
    p.add_argument("--identities", type=int, default=100, help="vggface2")
    p.add_argument("--seed", type=int, default=0, help="vggface2: selection seed")
    p.add_argument("--size", type=int, default=128,
                   help="crop size: 128 for the generator, 160 for FaceNet (default: %(default)s)")
    p.add_argument("--min-face-size", type=int, default=20, help="MTCNN's smallest face, pixels")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes aligning in parallel (default: %(default)s)")
    a = p.parse_args(argv)
    if a.source is None:
        if a.layout != "vggface2":
            p.error(f"--layout {a.layout} needs --source")
        a.source = PATH_VGGFACE2
    a.out = a.out or os.path.join(PATH_REAL_FACES, a.layout)
    return a


def main(argv=None):
    a = parse_args(argv)
    if a.layout == "vggface2":
        selection_args = {"min_images": a.min_images, "images_per_identity": a.images_per_identity,
                          "identities": a.identities, "seed": a.seed}
        selection = select_vggface2(a.source, **selection_args)
    else:
        selection_args, selection = {}, select_folder(a.source, a.layout)
    identities = len({i for i, _ in selection if i})
    print(f"selected {len(selection)} photos" + (f" of {identities} identities" if identities else "")
          + f" from {a.source}")
    meta = prepare(a.source, a.out, selection, a.layout, a.size, a.workers, a.min_face_size,
                   selection_args)
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(meta["skipped_by_reason"].items()))
    print(f"aligned {meta['aligned']} of {meta['selected']} photos into {os.path.join(a.out, FACES)}; "
          f"skipped {meta['skipped']}{f' ({reasons})' if reasons else ''}: see {os.path.join(a.out, SKIPPED)}")


if __name__ == "__main__":
    cli.run(main)
