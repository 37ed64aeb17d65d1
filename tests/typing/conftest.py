"""Typing test cases (good/, bad/): type-checked by test_typing.py, never imported or run by pytest."""

collect_ignore_glob = ["good/*", "bad/*"]
