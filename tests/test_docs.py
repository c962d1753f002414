"""The README as a front page and the docs it links to: every relative link, image and anchor
resolves, the code's references to doc pages and sections exist, and the citation file parses."""
import glob
import os
import re

import pytest
from conftest import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE = re.compile(r"`[^`\n]*`")
# A page and section a docstring or comment cites: (docs/results.md, "Table 1 on the trained DCGAN")
CITED = re.compile(r"(docs/[\w-]+\.md)(?:,\s*\"([^\"]+)\")?")


def _read(path):
    with open(path, encoding="utf8") as f:
        return f.read()


def _markdown_files():
    paths = [os.path.join(ROOT, "README.md")]
    for pattern in ("docs/*.md", "configs/*.md", "weights/*.md", "*/README.md", "boundaries/*/README.md"):
        paths += sorted(glob.glob(os.path.join(ROOT, pattern)))
    return [p for p in paths if ".venv" not in p]


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = CODE.sub(lambda m: m.group(0)[1:-1], heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path):
    anchors, seen = set(), {}
    for line in FENCE.sub("", _read(path)).splitlines():
        if line.startswith("#"):
            slug = _slug(line.lstrip("#"))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _headings(path):
    text = FENCE.sub("", _read(path))
    return {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}


def _links(path):
    text = FENCE.sub("", _read(path))
    text = CODE.sub("", text)
    return LINK.findall(text)


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_and_image_resolves(path):
    broken = []
    for target in _links(path):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check offline
            continue
        file_part, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(resolved):
            broken.append(f"{target}: no {os.path.relpath(resolved, ROOT)}")
        elif anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(resolved, ROOT)}")
    assert not broken, f"{os.path.relpath(path, ROOT)}: " + "; ".join(broken)


def test_the_slugs_follow_github():
    assert _slug("`--blocks`, shown the answer") == "--blocks-shown-the-answer"
    assert _slug("Choosing the hybrid's settings") == "choosing-the-hybrids-settings"
    assert _slug("generate_faces.py: face sets") == "generate_facespy-face-sets"


def test_every_figure_in_docs_is_shown_once():
    figures = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "docs", "*.png")))
    shown = {}
    for path in glob.glob(os.path.join(ROOT, "docs", "*.md")):
        for target in _links(path):
            if target.endswith(".png"):
                shown.setdefault(os.path.basename(target), []).append(os.path.basename(path))
    assert sorted(shown) == figures, "a figure under docs/ that no page shows, or a page showing a missing one"
    assert all(len(pages) == 1 for pages in shown.values()), shown


def test_the_readme_is_a_front_page():
    lines = _read(os.path.join(ROOT, "README.md")).splitlines()
    assert len(lines) <= 250
    assert "### Table 1 on the trained DCGAN" in lines[:120]
    assert sum(line.count("2026-") for line in lines) <= 3  # dates live in the docs
    marker = next(i for i, line in enumerate(lines) if line.startswith("<!-- test command"))
    assert lines[marker + 1] == "```" and lines[marker + 2].startswith(".venv/bin/pip install")  # .ci/run reads it


def test_every_preset_the_docs_print_exists():
    for path in _markdown_files():
        for name in re.findall(r"--config (configs/[\w.-]+)", _read(path)):
            assert os.path.isfile(os.path.join(ROOT, name)), f"{os.path.relpath(path, ROOT)} prints a missing {name}"


def test_the_code_cites_doc_pages_and_sections_that_exist():
    sources = glob.glob(os.path.join(ROOT, "*.py")) + glob.glob(os.path.join(ROOT, "faceinv", "**", "*.py"),
                                                                recursive=True)
    sources += glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))
    wrong = []
    for source in sources:
        text = re.sub(r"\n\s*#\s?", " ", _read(source))  # a citation may wrap, in a comment too
        text = " ".join(text.split())
        for page, section in CITED.findall(text):
            target = os.path.join(ROOT, page)
            if not os.path.isfile(target):
                wrong.append(f"{os.path.relpath(source, ROOT)}: {page}")
            elif section and section not in _headings(target):
                wrong.append(f"{os.path.relpath(source, ROOT)}: {page}, \"{section}\"")
    assert not wrong, wrong


def test_the_citation_file_names_the_paper_and_what_it_builds_on():
    yaml = pytest.importorskip("yaml")
    citation = yaml.safe_load(_read(os.path.join(ROOT, "CITATION.cff")))
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    assert "2009.05671" in citation["preferred-citation"]["url"]
    titles = " | ".join(r["title"] for r in citation["references"])
    for work in ("Pivotal Tuning", "Interpreting the Latent Space of GANs", "ReStyle", "HyperStyle",
                 "Progressive Growing of GANs", "FaceNet"):
        assert work in titles
    assert _read(os.path.join(ROOT, "LICENSE")).splitlines()[0] == "MIT License"
