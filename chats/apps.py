from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"

    def ready(self):
        from accounts import signals
        from chats import receivers

        signals.user_deleting.connect(receivers.on_user_deleting, dispatch_uid="chats")
        signals.user_purging.connect(receivers.on_user_purging, dispatch_uid="chats")
        signals.user_exporting.connect(receivers.on_user_exporting, dispatch_uid="chats")
