"""``python -m loophooks``: the ``loophooks`` command, for environments whose scripts folder is not on PATH."""

from loophooks.conformance._cli import main

raise SystemExit(main())
