"""The protos lint clean and the committed generated code matches them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_generated_code_matches_protos(repo_root):
    result = subprocess.run([sys.executable, "protos/generate.py", "--check"], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_standard_is_clean(repo_root):
    result = subprocess.run([str(BIN / "buf"), "lint"], cwd=repo_root, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packages_match_directories(repo_root):
    for proto in (repo_root / "protos").rglob("*.proto"):
        package = next(line.split()[1].rstrip(";") for line in proto.read_text().splitlines()
                       if line.startswith("package "))
        assert package.replace(".", "/") == str(proto.parent.relative_to(repo_root / "protos"))
