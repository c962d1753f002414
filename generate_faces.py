"""Sample faces and their latents from a face generator (the paper's step 1).

Writes a face set (faces/*.png, latents.npy, meta.json, grid.png, config.json;
docs/files.md) from standard-normal latents. The defaults give the paper's 50-face
test set; `--set train` gives its 100k training set. Rerun the same command
after a kill to finish the job: finished faces are kept, missing ones drawn.

    python generate_faces.py --generator dcgan-digiface       # offline: a trained DCGAN from PyPI
    python generate_faces.py --generator synthetic            # offline: the ground-truth stand-in
    python generate_faces.py                                  # real ProGAN-128
    python generate_faces.py --set train --batch-size 256     # 100k faces
    python generate_faces.py --set train --shard 0/4          # a quarter of them (then 1/4, 2/4, 3/4)
    python generate_faces.py --set train --merge              # the four shards into the one set
"""
import dataclasses
import os

from faceinv import cli, config, shards
from faceinv.config import setting
from faceinv.data.face_sets import check_request, merge_face_set, write_face_set
from faceinv.models.generators import GENERATOR, GENERATOR_HELP, generator_tag, load_generator
from faceinv.paths import PATH_Z_VECTORS

SETS = {"test": (50, 0), "train": (100_000, 1)}  # name: (faces, seed)


@dataclasses.dataclass
class Config:
    generator: str = setting(GENERATOR, GENERATOR_HELP)
    set: str = setting("test", "preset count and seed: test = 50 faces, seed 0; train = 100000 faces, seed 1",
                       choices=sorted(SETS))
    n: int = setting(None, "number of faces (overrides --set)", type=int)
    seed: int = setting(None, "latent seed (overrides --set)", type=int)
    batch_size: int = setting(64, "faces per generator call (shards split on its multiples)")
    shard: str = setting("", "draw only shard i of n (i from 0), into <out>/shards/<i>-of-<n>; "
                             "every face is the one an unsharded run draws", metavar="I/N")
    merge: bool = setting(False, "gather the finished shards of <out> into <out> itself (checked: same "
                                 "generator, seed and count, every face exactly once)")
    out: str = setting(None, f"output folder (default: {PATH_Z_VECTORS}/<generator>/<set>)", type=str, output=True)


def resolve(c):
    """Fill what the preset and the generator's tag decide."""
    count, seed = SETS[c.set]
    return dataclasses.replace(c, n=count if c.n is None else c.n, seed=seed if c.seed is None else c.seed,
                               out=c.out or os.path.join(PATH_Z_VECTORS, generator_tag(c.generator), c.set))


def generate(c):
    c = resolve(c)
    check_request(c.n, c.batch_size)  # before the generator takes time to load
    shard = shards.parse(c.shard)
    shards.check_request(shard, c.merge)
    if shard:
        shard.range(c.n, c.batch_size)
    generator = load_generator(c.generator)
    print(f"generator: {generator.label}")
    if c.merge:
        meta = merge_face_set(c.out, generator, c.n, c.seed)
    else:
        meta = write_face_set(c.out, generator, c.n, c.seed, c.batch_size, shard=shard)
    folder = shard.folder(c.out) if shard else c.out
    config.write(folder, c)
    if shard:
        print(f"wrote faces {meta['start']}..{meta['stop'] - 1} of {c.n} and their latents to {folder}")
    else:
        print(f"wrote {meta['count']} faces and their latents to {c.out} "
              f"(contact sheet: {os.path.join(c.out, 'grid.png')})")
    return meta


def main(argv=None):
    generate(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
