"""The protos lint clean, the committed generated code matches them, and the offline
buf machinery (protoc-built images, see protos/generate.py) works."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pool

BIN = Path(sys.executable).parent


def _generate_module(repo_root: Path):
    spec = importlib.util.spec_from_file_location("ijh_protos_generate",
                                                  repo_root / "protos/generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_matches_protos(repo_root):
    result = subprocess.run([sys.executable, "protos/generate.py", "--check"], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_standard_is_clean(repo_root):
    result = subprocess.run([sys.executable, "protos/generate.py", "--lint"], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_checks_the_protovalidate_rules(repo_root, tmp_path):
    """buf's PROTOVALIDATE lint rule sees the annotations through the image."""
    generate = _generate_module(repo_root)
    proto = tmp_path / "protos/ijh/t/v1/t.proto"
    proto.parent.mkdir(parents=True)
    proto.write_text('syntax = "proto3";\npackage ijh.t.v1;\n'
                     'import "buf/validate/validate.proto";\n'
                     '// A message.\nmessage Item {\n  // A code.\n'
                     '  string code = 1 [(buf.validate.field).string = '
                     '{min_len: 5, max_len: 2}];\n}\n')
    image = tmp_path / "image.binpb"
    generate.build_image(tmp_path / "protos", image)
    result = subprocess.run([str(BIN / "buf"), "lint", str(image), "--path", "ijh",
                             "--config", str(repo_root / "buf.yaml")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "min_len" in result.stdout, result.stdout


def test_buf_breaking_compares_images(repo_root, tmp_path):
    generate = _generate_module(repo_root)
    old_root, new_root = tmp_path / "old", tmp_path / "new"
    for root, fields in ((old_root, "  string a = 1;\n  string b = 2;\n"),
                         (new_root, "  string a = 1;\n")):
        proto = root / "ijh/t/v1/t.proto"
        proto.parent.mkdir(parents=True)
        proto.write_text(f'syntax = "proto3";\npackage ijh.t.v1;\nmessage M {{\n{fields}}}\n')
        generate.build_image(root, root.with_suffix(".binpb"))
    result = subprocess.run([str(BIN / "buf"), "breaking", str(new_root.with_suffix(".binpb")),
                             "--against", str(old_root.with_suffix(".binpb")), "--path", "ijh",
                             "--config", str(repo_root / "buf.yaml")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and '"b"' in result.stdout, result.stdout


def test_one_validate_proto_in_the_default_pool():
    """gen/buf/validate/validate_pb2 and protovalidate's own descriptor are the same file:
    the default pool accepts both (a different copy would raise)."""
    from buf.validate import validate_pb2
    from ijh.funding.v1 import funding_pb2
    from protovalidate._gen.buf.validate import validate_pb

    assert validate_pb2.DESCRIPTOR in funding_pb2.DESCRIPTOR.dependencies
    descriptor_pool.Default().AddSerializedFile(validate_pb._DESC.proto.to_binary())


def test_packages_match_directories(repo_root):
    for proto in (repo_root / "protos").rglob("*.proto"):
        package = next(line.split()[1].rstrip(";") for line in proto.read_text().splitlines()
                       if line.startswith("package "))
        assert package.replace(".", "/") == str(proto.parent.relative_to(repo_root / "protos"))
