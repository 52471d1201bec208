from django.apps import AppConfig


class SafetyConfig(AppConfig):
    """Blocks between users: a low-level app (it knows only `accounts`) whose rule every
    domain app applies to its reads and writes (safety/selectors.py)."""

    name = "safety"
    verbose_name = "безопасность"
