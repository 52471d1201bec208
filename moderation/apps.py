from django.apps import AppConfig


class ModerationConfig(AppConfig):
    # Above posts, chats and accounts: it may import them, they never import it.
    name = "moderation"
    verbose_name = "модерация"
