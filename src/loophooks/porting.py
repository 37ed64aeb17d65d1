"""Port a Lightning 2.6 script to loophooks by renaming its imports, and nothing else.

The rename, applied to Python names only (strings and comments are left alone):

- the packages ``pytorch_lightning``, ``lightning.pytorch`` and ``lightning`` become ``loophooks``
  (``pytorch_lightning.callbacks`` becomes ``loophooks.callbacks``, and so on);
- ``LightningModule`` becomes ``LoopModule`` and ``LightningDataModule`` becomes ``LoopDataModule``.

``python -m loophooks.porting FILE...`` prints each file renamed.
"""

from __future__ import annotations

import io
import sys
import tokenize

__all__ = ["CLASS_RENAMES", "rename_imports"]

CLASS_RENAMES = {"LightningModule": "LoopModule", "LightningDataModule": "LoopDataModule"}
_PACKAGE = "loophooks"


def _edits(source: str) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
    """(start, end, replacement) for each run of NAME tokens to rename, in source order."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)]
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type != tokenize.NAME:
            i += 1
            continue
        previous = tokens[i - 1] if i > 0 else None
        attribute = previous is not None and previous.type == tokenize.OP and previous.string == "."
        if tok.string in CLASS_RENAMES:
            edits.append((tok.start, tok.end, CLASS_RENAMES[tok.string]))
        elif not attribute and tok.string == "pytorch_lightning":
            edits.append((tok.start, tok.end, _PACKAGE))
        elif not attribute and tok.string == "lightning":
            # `lightning.pytorch` is one package; `lightning` alone (import lightning as L) is the same API
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            after = tokens[i + 2] if i + 2 < len(tokens) else None
            if (
                nxt is not None
                and after is not None
                and nxt.string == "."
                and after.type == tokenize.NAME
                and after.string == "pytorch"
            ):
                edits.append((tok.start, after.end, _PACKAGE))
                i += 3
                continue
            edits.append((tok.start, tok.end, _PACKAGE))
        i += 1
    return edits


def rename_imports(source: str) -> str:
    """``source`` with Lightning's package and class names replaced by loophooks' (see the module docstring).

    Only Python names change: ``"pytorch_lightning"`` in a string or a comment stays. A local variable
    that happens to be called ``lightning`` is renamed too (the rename is mechanical).
    """
    lines = io.StringIO(source).readlines()  # the lines tokenize numbers (only \n ends one)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out = source
    for (srow, scol), (erow, ecol), text in reversed(_edits(source)):
        start = offsets[srow - 1] + scol
        end = offsets[erow - 1] + ecol
        out = out[:start] + text + out[end:]
    return out


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m loophooks.porting FILE...", file=sys.stderr)
        return 2
    for path in paths:
        with open(path, encoding="utf-8") as f:
            sys.stdout.write(rename_imports(f.read()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
