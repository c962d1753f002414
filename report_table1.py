"""Rebuild the paper's Table 1 and Figure 4 from the results folders of the methods.

Reads every <results>/<method>/ that holds a metrics.json (resnet_test.py and
gradient_based_recovery.py write them), measures PSNR, SSIM, MS-SSIM, FaceNet
cosine similarity and, for a face set, the latent errors from the saved files,
and writes <results>/table1.md, table1.csv and figure4.png. Rows named adam,
stochastic-clipping, resnet-z, resnet-z-perceptual and hybrid get the paper's
figures beside them.

    python report_table1.py                                          # results/progan-128
    python report_table1.py --generator dcgan-digiface               # results/dcgan-digiface
    python report_table1.py --results results/synthetic --facenet random
"""
import argparse

from faceinv import cli
from faceinv.facenet import DEFAULT as FACENET, HELP as FACENET_HELP, load_facenet
from faceinv.generators import PROGAN_HANDLE, tagged_path
from faceinv.report import write_report

PATH_RESULTS = "results/{generator}"  # {generator}: the tag of --generator
GENERATOR = PROGAN_HANDLE


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", help=f"folder of method results (default: {PATH_RESULTS})")
    p.add_argument("--generator", default=GENERATOR, help="names the default --results folder (default: %(default)s)")
    p.add_argument("--out", help="where the table and figure go (default: --results)")
    p.add_argument("--facenet", default=FACENET, help="for the similarity column: " + FACENET_HELP + " (default: %(default)s)")
    p.add_argument("--faces", help="the target faces, if they moved since the methods ran")
    p.add_argument("--figure-faces", type=int, default=8, help="rows of figure4.png (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    a.results = a.results or tagged_path(PATH_RESULTS, a.generator)
    facenet = load_facenet(a.facenet)
    out = a.out or a.results
    rows = write_report(a.results, out, facenet, a.faces, a.figure_faces)
    for row in rows:
        print(f"  {row['method']:<40} PSNR {row['psnr_db']:6.2f} dB  {row['seconds']:9.2f} s")
    print(f"wrote {out}/table1.md, table1.csv and figure4.png")


if __name__ == "__main__":
    cli.run(main)
