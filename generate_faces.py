"""Sample faces and their latents from a face generator (the paper's step 1).

Writes a face set (faces/*.png, latents.npy, meta.json, grid.png; see README)
from standard-normal latents. The defaults give the paper's 50-face test set;
`--set train` gives its 100k training set. Rerun the same command after a kill
to finish the job: finished faces are kept, missing ones drawn.

    python generate_faces.py --generator dcgan-digiface       # offline: a trained DCGAN from PyPI
    python generate_faces.py --generator synthetic            # offline: the ground-truth stand-in
    python generate_faces.py                                  # real ProGAN-128
    python generate_faces.py --set train --batch-size 256     # 100k faces
"""
import argparse
import os

from faceinv import cli
from faceinv.face_sets import check_request, write_face_set
from faceinv.generators import PROGAN_HANDLE, generator_tag, load_generator

PATH_Z_VECTORS = "z_vectors"
GENERATOR = PROGAN_HANDLE
SETS = {"test": (50, 0), "train": (100_000, 1)}  # name: (faces, seed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default=GENERATOR,
                        help="TF-Hub URL, local module folder, 'dcgan-digiface', 'synthetic' or 'progan-standin' "
                             "(default: %(default)s)")
    parser.add_argument("--set", choices=sorted(SETS), default="test",
                        help="preset count and seed: test = 50 faces, seed 0; "
                             "train = 100000 faces, seed 1 (default: %(default)s)")
    parser.add_argument("--n", type=int, help="number of faces (overrides --set)")
    parser.add_argument("--seed", type=int, help="latent seed (overrides --set)")
    parser.add_argument("--batch-size", type=int, default=64, help="faces per generator call")
    parser.add_argument("--out", help=f"output folder (default: {PATH_Z_VECTORS}/<generator>/<set>)")
    args = parser.parse_args(argv)
    count, seed = SETS[args.set]
    args.n = count if args.n is None else args.n
    args.seed = seed if args.seed is None else args.seed
    args.out = args.out or os.path.join(PATH_Z_VECTORS, generator_tag(args.generator), args.set)
    return args


def main(argv=None):
    args = parse_args(argv)
    check_request(args.n, args.batch_size)  # before the generator takes time to load
    generator = load_generator(args.generator)
    print(f"generator: {generator.label}")
    meta = write_face_set(args.out, generator, args.n, args.seed, args.batch_size)
    print(f"wrote {meta['count']} faces and their latents to {args.out} "
          f"(contact sheet: {os.path.join(args.out, 'grid.png')})")


if __name__ == "__main__":
    cli.run(main)
