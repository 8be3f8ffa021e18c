"""Port a PyTorch program to steprnn by rewriting its import lines, and nothing else.

``python tests/programs/port.py prog.py > prog_sr.py`` prints the ported source; :func:`port` does it
on a string. ``import torch`` becomes ``import steprnn as torch``, ``import torch.nn as nn`` becomes
``import steprnn.nn as nn``, ``from torch.x import y`` becomes ``from steprnn.x import y``; every other
line is left exactly as it is.
"""
from __future__ import annotations

import re
import sys

_IMPORT = re.compile(r"^(\s*)import\s+(.+)$")
_FROM = re.compile(r"^(\s*)from\s+torch(\.[\w.]+)?\s+import\s+(.+)$")


def _port_import(indent: str, names: str) -> str:
    parts = []
    for item in names.split(","):
        item = item.strip()
        module, _, alias = item.partition(" as ")
        module, alias = module.strip(), alias.strip()
        if module == "torch" or module.startswith("torch."):
            ported = "steprnn" + module[len("torch"):]
            if alias:
                parts.append(f"{ported} as {alias}")
            elif module == "torch":
                parts.append("steprnn as torch")
            else:  # ``import torch.nn`` binds the name ``torch``
                parts.append(f"{ported}, steprnn as torch")
        else:
            parts.append(item)
    return f"{indent}import {', '.join(parts)}"


def port(source: str) -> str:
    """``source`` with its torch import lines rewritten to steprnn's (other lines untouched)."""
    out = []
    for line in source.splitlines():
        m = _FROM.match(line)
        if m:
            line = f"{m.group(1)}from steprnn{m.group(2) or ''} import {m.group(3)}"
        else:
            m = _IMPORT.match(line)
            if m and re.search(r"\btorch\b", m.group(2)):
                line = _port_import(m.group(1), m.group(2))
        out.append(line)
    return "\n".join(out) + "\n"


def changed_lines(source: str) -> list[tuple[str, str]]:
    """The (before, after) pairs of the lines :func:`port` changes."""
    return [(a, b) for a, b in zip(source.splitlines(), port(source).splitlines()) if a != b]


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        sys.stdout.write(port(f.read()))
