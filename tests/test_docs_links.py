"""The documentation stands alone: every relative link resolves inside the repository (issue 18, acceptance 5).

Checked in README.md, CHANGELOG.md and every Markdown file under docs/, benchmarks/ and examples/:
inline links ``[text](target)`` and reference definitions ``[label]: target`` that are not URLs
must name a file or folder of the repository, and an ``#anchor`` into a Markdown file must name
one of its headings; a file name written in prose (``LOCK.md``) must exist too, and the user
documentation (README, CHANGELOG, docs/) names no folder beside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
PROSE_FILE = re.compile(r"(?<![\w/.#-])((?:\.{1,2}/)?[\w./-]*\w\.md)\b")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def documents(root: Path = ROOT) -> list[Path]:
    found = [root / "README.md", root / "CHANGELOG.md"]
    for folder in ("docs", "benchmarks", "examples"):
        found += sorted((root / folder).rglob("*.md"))
    return [path for path in found if path.exists()]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    text = FENCE.sub("", markdown.read_text(encoding="utf-8"))
    return {slug(match[1]) for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)}


def problems(document: Path, root: Path = ROOT) -> list[str]:
    """Every link or file mention in ``document`` that does not resolve inside ``root``."""
    text = document.read_text(encoding="utf-8")
    where = document.relative_to(root)
    found: list[str] = []
    targets = [m[1] for m in INLINE.finditer(text)] + [m[1] for m in REFERENCE.finditer(FENCE.sub("", text))]
    for target in targets:
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        if not resolved.is_relative_to(root.resolve()):
            found.append(f"{where}: link outside the repository: {target}")
        elif not resolved.exists():
            found.append(f"{where}: broken link: {target}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            found.append(f"{where}: no heading for #{anchor} in {resolved.relative_to(root.resolve())}")
    prose = INLINE.sub("", FENCE.sub("", text))
    for mention in {m[1] for m in PROSE_FILE.finditer(prose)}:
        candidates = [(document.parent / mention).resolve(), (root / mention).resolve()]
        if not any(c.exists() and c.is_relative_to(root.resolve()) for c in candidates):
            found.append(f"{where}: names a file that is not in the repository: {mention}")
    user_docs = where.parts[0] in ("docs", "README.md", "CHANGELOG.md")
    if user_docs and "../shared" in text:  # the peer benchmark's README names the harness it runs
        found.append(f"{where}: points at a folder beside the repository (../shared)")
    return found


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(document: Path) -> None:
    assert problems(document) == []


def test_the_checker_finds_what_it_should(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Zigbee2MQTT mode\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text("[ok](other.md#zigbee2mqtt-mode) [gone](missing.md) [out](../../etc/passwd)\n"
                    "[anchor](other.md#nowhere) see LOCK.md and other.md\n[ref]: ./nothing/\n"
                    "```sh\ncat ignored-in-code.md\n```\n")
    assert sorted(problems(page, tmp_path)) == sorted([
        "docs/page.md: broken link: missing.md",
        "docs/page.md: link outside the repository: ../../etc/passwd",
        "docs/page.md: no heading for #nowhere in docs/other.md",
        "docs/page.md: broken link: ./nothing/",
        "docs/page.md: names a file that is not in the repository: LOCK.md",
    ])
