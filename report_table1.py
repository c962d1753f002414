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
import dataclasses

from faceinv import cli, config
from faceinv.config import setting
from faceinv.models.facenet import DEFAULT as FACENET
from faceinv.models.facenet import HELP as FACENET_HELP
from faceinv.models.facenet import load_facenet
from faceinv.models.generators import GENERATOR, GENERATOR_HELP, tagged_path
from faceinv.report.table import write_report

PATH_RESULTS = "results/{generator}"  # {generator}: the tag of --generator


@dataclasses.dataclass
class Config:
    results: str = setting(PATH_RESULTS, "folder of method results")
    generator: str = setting(GENERATOR, "names the default --results folder: " + GENERATOR_HELP)
    out: str = setting(None, "where the table and figure go (default: --results)", type=str, output=True)
    facenet: str = setting(FACENET, "for the similarity column: " + FACENET_HELP)
    faces: str = setting(None, "the target faces, if they moved since the methods ran", type=str)
    figure_faces: int = setting(8, "rows of figure4.png")


def resolve(c):
    results = tagged_path(c.results, c.generator)
    return dataclasses.replace(c, results=results, out=c.out or results)


def report(c):
    c = resolve(c)
    facenet = load_facenet(c.facenet)
    rows = write_report(c.results, c.out, facenet, c.faces, c.figure_faces)
    config.write(c.out, c)
    for row in rows:
        print(f"  {row['method']:<40} PSNR {row['psnr_db']:6.2f} dB  {row['seconds']:9.2f} s")
    print(f"wrote {c.out}/table1.md, table1.csv and figure4.png")
    return rows


def main(argv=None):
    report(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
