"""Generate the Python code and .pyi stubs of every proto under protos/ into gen/, and
lint / breaking-check the protos with buf.

``make proto`` regenerates gen/. ``--check`` regenerates into a temporary folder and
fails when the committed gen/ differs (run by ``make lint`` and the test suite), so the
committed code always matches the protos. ``--lint`` is ``make lint``'s buf lint and
``--breaking REF`` is ``make breaking``.

Our protos import ``buf/validate/validate.proto`` (protovalidate constraints, checked by
the gateway). That file is not shipped as source, and buf's registry (``buf dep update``)
is unreachable here, so everything goes through protoc: the protovalidate wheel carries
the file's descriptor, which we hand to protoc as a FileDescriptorSet
(``--descriptor_set_in``; the well-known types come from grpc_tools). protoc also
generates ``gen/buf/validate/validate_pb2.py``, which the generated ``ijh`` modules
import; its descriptor equals protovalidate's own, so the default descriptor pool accepts
both. buf never parses the sources: it lints and compares *images*, FileDescriptorSets
that protoc builds with ``--include_imports --include_source_info`` (``buf lint
image.binpb --path ijh``, ``buf breaking new.binpb --against old.binpb --path ijh``), the
old image being built from ``git archive <ref> protos``.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import subprocess
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"
BUF = Path(sys.executable).parent / "buf"
BUF_CONFIG = ROOT / "buf.yaml"
VALIDATE_PROTO = "buf/validate/validate.proto"
OUR_PACKAGES = "ijh"  # the part of an image buf lints and compares


def proto_files(root: Path = PROTOS) -> list[Path]:
    return sorted(root.rglob("*.proto"))


def write_validate_descriptor_set(path: Path) -> None:
    """``buf/validate/validate.proto`` as a FileDescriptorSet, from protovalidate's wheel."""
    from protovalidate._gen.buf.validate import validate_pb

    files = descriptor_pb2.FileDescriptorSet()
    files.file.add().ParseFromString(validate_pb._DESC.proto.to_binary())
    path.write_bytes(files.SerializeToString(deterministic=True))


def run_protoc(proto_root: Path, outputs: list[str], files: list[str], work: Path) -> None:
    """protoc over ``files`` (relative to ``proto_root``), with buf/validate available."""
    validate_set = work / "buf-validate.binpb"
    if not validate_set.exists():
        write_validate_descriptor_set(validate_set)
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{proto_root}", f"-I{well_known}",
            f"--descriptor_set_in={validate_set}", *outputs, *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def generate(out_dir: Path) -> None:
    """Write ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` plus package ``__init__``s,
    and ``buf/validate/validate_pb2.py`` (+ .pyi) for the protovalidate annotations."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [str(p.relative_to(PROTOS)) for p in proto_files()]
    with tempfile.TemporaryDirectory() as work:
        run_protoc(PROTOS, [f"--python_out={out_dir}", f"--pyi_out={out_dir}",
                            f"--grpc_python_out={out_dir}"], files, Path(work))
        run_protoc(PROTOS, [f"--python_out={out_dir}", f"--pyi_out={out_dir}"],
                   [VALIDATE_PROTO], Path(work))
    for package_dir in {p.parent for p in out_dir.rglob("*_pb2.py")}:
        d = package_dir
        while d != out_dir:
            init = d / "__init__.py"
            if not init.exists():
                init.write_text("")
            d = d.parent


def build_image(proto_root: Path, image: Path) -> None:
    """A Buf image of the protos under ``proto_root`` (imports and source info included)."""
    files = [str(p.relative_to(proto_root)) for p in proto_files(proto_root)]
    with tempfile.TemporaryDirectory() as work:
        run_protoc(proto_root, [f"--descriptor_set_out={image}", "--include_imports",
                                "--include_source_info"], files, Path(work))


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


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        changed = differences(Path(tmp), GEN)
    if changed:
        print("gen/ is stale; run `make proto`. Differences:", *changed, sep="\n  ")
        return 1
    print("gen/ matches protos/")
    return 0


def lint() -> int:
    """buf lint (buf.yaml: STANDARD, incl. PROTOVALIDATE) of our files in the image."""
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "image.binpb"
        build_image(PROTOS, image)
        return subprocess.run([str(BUF), "lint", str(image), "--path", OUR_PACKAGES,
                               "--config", str(BUF_CONFIG)], cwd=ROOT).returncode


def breaking(ref: str) -> int:
    """buf breaking (buf.yaml: FILE) of the working tree's protos against git ``ref``'s."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "protos"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old_root = Path(tmp) / "old"
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(old_root, filter="data")
        old, new = Path(tmp) / "old.binpb", Path(tmp) / "new.binpb"
        build_image(old_root / "protos", old)
        build_image(PROTOS, new)
        return subprocess.run([str(BUF), "breaking", str(new), "--against", str(old),
                               "--path", OUR_PACKAGES, "--config", str(BUF_CONFIG)],
                              cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true",
                        help="fail if regeneration would change gen/")
    action.add_argument("--lint", action="store_true", help="buf lint the protos")
    action.add_argument("--breaking", metavar="REF",
                        help="buf breaking against the protos of git REF (e.g. main)")
    action.add_argument("--image", metavar="FILE", type=Path,
                        help="write a Buf image of the protos to FILE")
    options = parser.parse_args()
    if options.check:
        return check()
    if options.lint:
        return lint()
    if options.breaking:
        return breaking(options.breaking)
    if options.image:
        build_image(PROTOS, options.image.resolve())
        return 0
    generate(GEN)
    print(f"generated {len(proto_files())} protos into {GEN.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
