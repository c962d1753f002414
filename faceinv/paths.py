"""The repository's folders (docs/files.md, "Files on disk"). Every script's default paths
start from these; `{generator}` in a path is the generator's tag (dcgan-digiface,
synthetic, progan-128, ...), so runs on different generators never mix."""
import os

PATH_Z_VECTORS = "z_vectors"                       # face sets (generate_faces.py)
PATH_SAVED_MODEL = "saved_model"                   # exported networks
PATH_CHECKPOINTS = "checkpoints"                   # training checkpoints, one folder per run
PATH_LOGS = "logs"                                 # TensorBoard, one folder per run
PATH_RESULTS = "results"                           # method results, tables, figures
PATH_WEIGHTS = "weights"                           # weights the repository ships (tracked, .npz)
PATH_CELEBA = "datasets/celeba"                    # CelebA as distributed (classifier, inverter)
PATH_BOUNDARIES = "boundaries"                     # committed boundaries: boundaries/<generator>/
PATH_INVERTERS = os.path.join(PATH_SAVED_MODEL, "attribute_inverter")  # exported attribute inverters, one per run
PATH_TEST_FACES = os.path.join(PATH_Z_VECTORS, "{generator}", "test")      # the 50 test faces
PATH_ENCODER = os.path.join(PATH_SAVED_MODEL, "encoder_{generator}")       # resnet.py's encoder for that generator
