# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint proto proto-check breaking bench venv clean

$(STAMP): pyproject.toml constraints.txt gen/buf/validate/validate_pb2.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## run: start NATS (embedded, JetStream under var/), the risk, funding and gateway services
run: $(STAMP)
	$(PY) -m services.embedded

## test: the whole suite (real nats-server, real gRPC, real SQLite and PostgreSQL)
test: $(STAMP)
	$(PY) -m pytest

## lint: ruff, buf lint (of a protoc-built image: see protos/generate.py), gen/ matches protos/
lint: $(STAMP)
	$(VENV)/bin/ruff check services ijh_cli tests protos examples
	$(PY) protos/generate.py --lint
	$(PY) protos/generate.py --check

## proto: regenerate gen/ (Python code + .pyi stubs) from protos/
proto: $(STAMP)
	$(PY) protos/generate.py

## breaking: buf breaking against the main branch (images built by protoc, offline)
breaking: $(STAMP)
	$(PY) protos/generate.py --breaking main

## bench: the pytest-benchmark suite (files bench_*.py); ratios against in-run baselines
bench: $(STAMP)
	mkdir -p var
	$(PY) -m pytest -o python_files='bench_*.py' -p no:randomly --benchmark-only -s \
		--benchmark-columns=min,median,mean,stddev,rounds --benchmark-sort=name \
		--benchmark-json=var/bench.json tests

clean:
	rm -rf var/ .pytest_cache .benchmarks
