"""The apps stand in layers: accounts, then safety (blocks), then friends, then posts and chats, then
notifications and moderation. An app imports only the apps below it; it learns of changes above
through signals (accounts.signals, safety.signals)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each app may import, besides itself and `social`.
BELOW = {
    "accounts": set(),
    "safety": {"accounts"},
    "friends": {"accounts", "safety"},
    "posts": {"accounts", "friends", "safety"},
    "chats": {"accounts", "friends", "safety"},
    "notifications": {"accounts", "friends", "posts", "chats", "safety"},
    # Reports and the moderators' actions on them act through the services of the apps below.
    "moderation": {"accounts", "safety", "friends", "posts", "chats"},
}


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(BELOW)


@pytest.mark.parametrize("app", sorted(BELOW))
def test_an_app_imports_only_the_apps_below_it(app):
    modules = [path for path in (ROOT / app).rglob("*.py") if "tests" not in path.relative_to(ROOT).parts]
    assert modules
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) - BELOW[app] - {app})
        for path in modules
        if imported_apps(path) - BELOW[app] - {app}
    }
    assert not wrong
