"""Photos aligned per second by prepare_real_faces.py, with 1 and with N worker processes.

    python benchmarks/bench_alignment.py                 # 96 photos, workers 1 and 2
    python benchmarks/bench_alignment.py --photos 400 --workers 1 2 4

The photos are scikit-image's astronaut, rotated and rescaled so each is a
different file of about VGGFace2's size (the median VGGFace2 photo is a few
hundred pixels across), saved as JPEG. Each worker count aligns the same
folder into a fresh output; the start-up (TensorFlow and MTCNN in every
worker) is inside the clock, as a user would see it: a larger --photos shows
the steady rate.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from faceinv import cli  # noqa: E402  (quiets TensorFlow first)
from faceinv.data.real_faces import prepare, select_folder  # noqa: E402


def write_photos(folder, count):
    photo = Image.fromarray(data.astronaut())
    for i in range(count):
        side = 300 + (i * 37) % 300
        variant = photo.rotate((i * 7) % 40 - 20, resample=Image.Resampling.BICUBIC)
        variant.resize((side, side), Image.Resampling.LANCZOS).save(
            os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPU cores; {args.photos} photos")
    print("workers | seconds | photos/s | speed-up over 1 worker")
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "photos")
        os.makedirs(source)
        write_photos(source, args.photos)
        selection = select_folder(source)
        base = None
        for workers in args.workers:
            start = time.perf_counter()
            meta = prepare(source, os.path.join(tmp, f"out{workers}"), selection, "folder",
                           workers=workers)
            seconds = time.perf_counter() - start
            rate = meta["aligned"] / seconds
            base = base or rate
            print(f"{workers} | {seconds:.1f} | {rate:.2f} | {rate / base:.2f}x "
                  f"({meta['aligned']} aligned, {meta['skipped']} skipped)", flush=True)


if __name__ == "__main__":
    cli.run(main)
