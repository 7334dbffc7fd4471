"""Generate the Python code and .pyi stubs of every proto under protos/ into gen/.

The one command behind ``make proto``. ``--check`` regenerates into a temporary
folder and fails when the committed gen/ differs (run by ``make lint`` and the
test suite), so the committed code always matches the protos.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"


def proto_files() -> list[Path]:
    return sorted(PROTOS.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Write ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` plus package ``__init__``s."""
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    files = [str(p.relative_to(PROTOS)) for p in proto_files()]
    args = ["protoc", f"-I{PROTOS}", f"-I{well_known}", f"--python_out={out_dir}",
            f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package_dir in {p.parent for p in out_dir.rglob("*_pb2.py")}:
        d = package_dir
        while d != out_dir:
            init = d / "__init__.py"
            if not init.exists():
                init.write_text("")
            d = d.parent


def differences(expected: Path, actual: Path) -> list[str]:
    """Relative paths that differ between two generated trees."""
    def tree(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    left, right = tree(expected), tree(actual)
    changed = sorted(left ^ right)
    changed += sorted(name for name in left & right
                      if not filecmp.cmp(expected / name, actual / name, shallow=False))
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="fail if regeneration would change gen/")
    options = parser.parse_args()
    if not options.check:
        generate(GEN)
        print(f"generated {len(proto_files())} protos into {GEN.relative_to(ROOT)}/")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        changed = differences(Path(tmp), GEN)
    if changed:
        print("gen/ is stale; run `make proto`. Differences:", *changed, sep="\n  ")
        return 1
    print("gen/ matches protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
