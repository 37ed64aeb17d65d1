"""``python -m loophooks.conformance``: the ``loophooks`` command."""

from loophooks.conformance._cli import main

raise SystemExit(main())
