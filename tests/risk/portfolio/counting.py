"""Count the engine's model checks wherever they are called from: every module of the
portfolio engine that binds ``validate_model`` or ``two_sided_tail`` by name gets the
counting wrapper, so a check added in any of them is seen."""

from __future__ import annotations

import sys

from services.risk.engine.portfolio import model as model_module

_PACKAGE = "services.risk.engine.portfolio"


def count_model_checks(monkeypatch) -> dict[str, int]:
    """{"validate": calls of validate_model, "tail": calls of two_sided_tail}, live."""
    calls = {"validate": 0, "tail": 0}
    for name, original in (("validate", model_module.validate_model),
                           ("tail", model_module.two_sided_tail)):
        def wrapper(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)
        for module_name, module in list(sys.modules.items()):
            if module_name != _PACKAGE and not module_name.startswith(_PACKAGE + "."):
                continue
            for attribute, value in list(vars(module).items()):
                if value is original:
                    monkeypatch.setattr(module, attribute, wrapper)
    return calls
