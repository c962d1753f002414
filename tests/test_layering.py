"""The package's stages read bottom-up: a module imports only from its own stage, the stages
below it, and the shared modules at the package's top level (faceinv/__init__.py says which)."""
import ast
import os

from conftest import ROOT

STAGES = ("models", "data", "inversion", "editing", "report")  # bottom first
SHARED = ("config", "errors", "files", "paths", "progress", "savedmodel", "shards", "training")
GLUE = ("cli", "page")  # imported by the entry scripts only


def _modules():
    package = os.path.join(ROOT, "faceinv")
    for folder, _, names in os.walk(package):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(path):
    """Every faceinv module the file imports, at its top or inside a function."""
    found = set()
    with open(path, encoding="utf8") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("faceinv"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("faceinv"):
            found.update(f"{node.module}.{a.name}" for a in node.names)  # a name or a module: both resolve below
    return found


def _rank(module):
    """(kind, stage index) of a faceinv module: shared modules below every stage."""
    parts = module.split(".")
    if len(parts) < 2:
        return "package", -1
    if parts[1] in STAGES:
        return "stage", STAGES.index(parts[1])
    if parts[1] in GLUE:
        return "glue", len(STAGES)
    return "shared", -1


def test_every_module_imports_only_from_below():
    wrong = []
    for module, path in _modules():
        kind, rank = _rank(module)
        for imported in _imports(path):
            other_kind, other_rank = _rank(imported)
            if other_kind == "glue" and kind != "glue":
                wrong.append(f"{module} imports {imported}: only the entry scripts import it")
            elif other_kind == "stage" and (kind == "shared" or other_rank > rank):
                wrong.append(f"{module} imports {imported}, a stage above it")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_stages_and_the_shared_modules_are_all_known():
    top = {name[:-3] for name in os.listdir(os.path.join(ROOT, "faceinv")) if name.endswith(".py")}
    folders = {name for name in os.listdir(os.path.join(ROOT, "faceinv"))
               if os.path.isfile(os.path.join(ROOT, "faceinv", name, "__init__.py"))}
    assert folders == set(STAGES)
    assert top == set(SHARED) | set(GLUE) | {"__init__"}
