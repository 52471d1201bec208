from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"

    def ready(self):
        from accounts import signals
        from chats import receivers

        signals.user_deleting.connect(receivers.on_user_deleting, dispatch_uid="chats")
