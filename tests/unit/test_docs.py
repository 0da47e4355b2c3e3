"""The docs match the code: generated docs are current, and references point at files that ship."""

from __future__ import annotations

import re
from pathlib import Path

from airtrack.settings import settings_markdown

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIRS = ("airtrack", "bench", "docs", "tests")
SHIPPED_TOP = ("README.md", "CONTRIBUTING.md", "Makefile", "pyproject.toml")
TEXT_SUFFIXES = {".py", ".md", ".sql", ".toml", ".js", ".html", ".css", ".lua", ".txt"}
# Built in pieces so that this file does not match its own check.
BRIEF = "ARCHITECTURE"
REQ_ID = re.compile(r"\bR[1-6]\.\d+\b")
DOC_REF = re.compile(r"\bdocs/([\w-]+\.md)(?:#([\w-]+))?")
MD_LINK = re.compile(r"\]\(([^)\s]+\.md)(?:#([\w-]+))?\)")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _shipped() -> list[Path]:
    files = [ROOT / name for name in SHIPPED_TOP if (ROOT / name).exists()]
    for d in SHIPPED_DIRS:
        files += [
            p
            for p in sorted((ROOT / d).rglob("*"))
            if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
        ]
    return files


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+)$", doc.read_text(), re.MULTILINE)}


def test_settings_doc_is_current() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    assert doc == settings_markdown(), (
        "docs/settings.md is stale: run `airtrack settings --markdown > docs/settings.md`"
    )


def test_readme_states_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_nothing_refers_to_the_brief_that_does_not_ship() -> None:
    # The original brief is not in the repository: "§n" of it means nothing to a reader.
    # "issue N §m" (an item of a tracker issue) is a different, external reference.
    bare_section = re.compile(r"(?<!issue \d )(?<!issue \d\d )§\s*\d")
    offenders = []
    for path in _shipped():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if f"{BRIEF}.md" in line or f"{BRIEF} §" in line or bare_section.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "point these at docs/ instead:\n" + "\n".join(offenders)


def test_every_requirement_id_used_is_defined() -> None:
    table = (ROOT / "docs" / "requirements.md").read_text()
    defined = set(re.findall(r"^\| (R[1-6]\.\d+) \|", table, re.MULTILINE))
    assert len(defined) == 24, sorted(defined)
    used: dict[str, str] = {}
    for path in _shipped():
        for rid in REQ_ID.findall(path.read_text(errors="replace")):
            used.setdefault(rid, str(path.relative_to(ROOT)))
    undefined = {rid: where for rid, where in used.items() if rid not in defined}
    assert not undefined, f"ids used but not in docs/requirements.md: {undefined}"


def test_requirements_name_tests_that_exist() -> None:
    table = (ROOT / "docs" / "requirements.md").read_text()
    refs = TEST_REF.findall(table)
    assert len(refs) > 40
    missing = [
        f"{file}::{name}"
        for file, name in refs
        if not (ROOT / file).exists()
        or not re.search(rf"^\s*(async )?def {name}\(", (ROOT / file).read_text(), re.MULTILINE)
    ]
    assert not missing, f"docs/requirements.md names tests that do not exist: {missing}"


def test_references_to_docs_resolve() -> None:
    broken = []
    for path in _shipped():
        text = path.read_text(errors="replace")
        refs = [(ROOT / "docs" / name, anchor) for name, anchor in DOC_REF.findall(text)]
        if path.suffix == ".md":
            refs += [(path.parent / target, anchor) for target, anchor in MD_LINK.findall(text)]
        for target, anchor in refs:
            if not target.exists() or (anchor and anchor not in _anchors(target)):
                broken.append(f"{path.relative_to(ROOT)} → {target.name}#{anchor}")
    assert not broken, broken


def test_readme_links_the_newcomer_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/architecture.md", "docs/requirements.md", "CONTRIBUTING.md"):
        assert f"]({doc})" in readme, doc
