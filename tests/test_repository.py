"""Repository contracts: the two-command quick start, CI entry point, layout and package boundaries."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_quick_start_is_make_run_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_ci_calls_make_test_and_makefile_targets_exist() -> None:
    assert re.search(r"^make test$", (ROOT / ".ci/run").read_text(), re.M)
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test", "book", "lock"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    # make run builds the warehouse when missing and runs the flagship study
    assert "servicelab run routing-ab" in makefile and "servicelab world build" in makefile


def test_top_level_layout() -> None:
    for name in ("causal", "simulation", "studies", "notebooks", "book", "tests", "benchmarks",
                 "environment.yml", "pyproject.toml", "Makefile", "README.md", ".ci/run"):
        assert (ROOT / name).exists(), name


def _imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_package_boundaries() -> None:
    """causal and simulation are independent of each other and of studies (GUIDE section 1)."""
    assert not _imports("causal") & {"simulation", "studies"}
    assert not _imports("simulation") & {"causal", "studies"}
    assert not _imports("servicelab") & {"causal", "simulation", "studies"}


def test_no_global_random_state() -> None:
    pattern = re.compile(r"np\.random\.seed\(|(?<![\w.])random\.seed\(|ciw\.seed\(")
    for package in ("servicelab", "causal", "simulation", "studies"):
        for path in (ROOT / package).rglob("*.py"):
            assert not pattern.search(path.read_text()), f"global RNG seeding in {path}"


def test_packaged_anchors_match_the_shared_copy() -> None:
    from servicelab.anchors import PACKAGED_DIR, SHARED_DIR

    if not SHARED_DIR.exists():  # a clone without the team's shared folder uses the packaged copy
        assert (PACKAGED_DIR / "queueing.json").exists()
        return
    for shared in SHARED_DIR.rglob("*"):
        if shared.is_file():
            packaged = PACKAGED_DIR / shared.relative_to(SHARED_DIR)
            assert packaged.read_bytes() == shared.read_bytes(), f"{packaged} differs from {shared}"
