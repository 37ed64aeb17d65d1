"""Typing test cases: type-checked by tests/test_typing.py, never imported or run by pytest."""

collect_ignore_glob = ["*"]
