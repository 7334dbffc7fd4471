"""``--report DIR``: the figures with an index.html tying them together (headline tables,
the command that reproduces them, and the defaults the service filled in where the
answer has them)."""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from ijh_cli.plots import Figure


@dataclass
class Report:
    """What one report page shows."""

    title: str
    subtitle: str = ""
    tables: list[tuple[str, list[tuple[str, str]], str]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    defaults: list[tuple[str, str, str]] = field(default_factory=list)  # field, value, why
    reproduce: str = ""  # the command line that reproduces the figures
    reproduce_note: str = ""  # what the line needs besides itself, when it is not whole

    def table(self, heading: str, rows: list[tuple[str, str]], note: str = "") -> None:
        """A headline table; ``note`` says under it what its figures include."""
        self.tables.append((heading, rows, note))


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: left; }
td.v { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } figcaption, p.note { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0.1em 0.3em; }
"""


def write(directory: Path, report: Report, answer: dict | None = None) -> Path:
    """Write ``index.html`` (and ``answer.json`` when given) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    e = html.escape
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8><title>{e(report.title)}"
             f"</title><style>{_STYLE}</style><h1>{e(report.title)}</h1>"]
    if report.subtitle:
        parts.append(f"<p>{e(report.subtitle)}</p>")
    for heading, rows, note in report.tables:
        parts.append(f"<h2>{e(heading)}</h2><table>")
        parts += [f"<tr><th>{e(k)}</th><td class=v>{e(v)}</td></tr>" for k, v in rows]
        parts.append("</table>")
        if note:
            parts.append(f"<p class=note>{e(note)}</p>")
    if report.figures:
        parts.append("<h2>Figures</h2>")
    for fig in report.figures:
        parts.append(f"<figure><img src=\"{e(fig.path.name)}\" alt=\"{e(fig.title)}\" "
                     f"width=800><figcaption><b>{e(fig.title)}.</b> {e(fig.caption)}"
                     "</figcaption></figure>")
    if report.defaults:
        parts.append("<h2>Defaults used</h2><p>The model left these out; the service filled "
                     "them in from its priors:</p><table><tr><th>field</th><th>value</th>"
                     "<th>why</th></tr>")
        parts += [f"<tr><td><code>{e(f)}</code></td><td>{e(v)}</td><td>{e(w)}</td></tr>"
                  for f, v, w in report.defaults]
        parts.append("</table>")
    if answer is not None:
        (directory / "answer.json").write_text(json.dumps(answer, indent=2), encoding="utf-8")
        parts.append("<p>The full answer (the proto's JSON form): "
                     "<a href=\"answer.json\">answer.json</a>.</p>")
    if report.reproduce:
        parts.append(f"<p>Reproduce: <code>{e(report.reproduce)}</code></p>")
        if report.reproduce_note:
            parts.append(f"<p class=note>{e(report.reproduce_note)}</p>")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    again = ("" if not report.reproduce else
             "; that command, on the same input files, reproduces them exactly"
             if not report.reproduce_note else
             "; that command, given what it needs (above), reproduces them exactly")
    parts.append(f"<p style=\"color:#777\">Written by <code>ijh</code> on {stamp}. Risk "
                 f"figures are estimates, each with its standard error{again}.</p></html>")
    index = directory / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index
