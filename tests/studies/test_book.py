"""The book builder: which pages are notebooks, and a cache key that notices code and data changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from studies import book


def test_every_toc_notebook_is_found_and_plain_pages_are_not() -> None:
    pages = book.notebook_pages()
    names = {p.name for p in pages}
    assert {"routing-ab.md", "world.md"} <= names
    assert "intro.md" not in names  # a plain MyST page: rendered, not executed
    assert all(book._is_notebook(p.read_text()) for p in pages)
    assert not book._is_notebook("# Title\n\ntext\n")


def test_cache_key_changes_with_the_package_sources_and_the_warehouse(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    for pkg in book._SOURCE_PACKAGES:
        (root / pkg).mkdir(parents=True)
        (root / pkg / "mod.py").write_text("x = 1\n")
    monkeypatch.setattr(book, "REPO_ROOT", root)
    db = tmp_path / "w.duckdb"
    db.write_bytes(b"world one")
    first = book.code_fingerprint(db)
    assert book.code_fingerprint(db) == first  # stable
    (root / "causal" / "mod.py").write_text("x = 2\n")  # an imported module changed
    second = book.code_fingerprint(db)
    assert second != first
    db.write_bytes(b"world two")  # same path, other data
    assert book.code_fingerprint(db) != second
    (root / "studies" / "__pycache__").mkdir()
    (root / "studies" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    assert book.code_fingerprint(db) == book.code_fingerprint(db)


def test_pages_option_refuses_when_other_notebooks_are_not_cached(tmp_path: Path) -> None:
    src = tmp_path / "mini"
    (src / "chapters").mkdir(parents=True)
    (src / "_config.yml").write_text("title: t\n")
    (src / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/a\n"
                                  "  - file: chapters/b\n")
    (src / "intro.md").write_text("# Intro\n")
    header = "---\njupytext:\n  formats: md:myst\nkernelspec:\n  name: python3\n---\n"
    for n in "ab":
        (src / "chapters" / f"{n}.md").write_text(header + f"# {n}\n")
    db = tmp_path / "w.duckdb"
    db.write_bytes(b"")
    with pytest.raises(book.RunError, match="not cached"):
        book.build_book(db=db, book_dir=src, pages=["a.md"])
