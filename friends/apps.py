from django.apps import AppConfig


class FriendsConfig(AppConfig):
    name = "friends"

    def ready(self):
        from accounts import signals
        from friends import receivers

        signals.user_purging.connect(receivers.on_user_purging, dispatch_uid="friends")
        signals.user_exporting.connect(receivers.on_user_exporting, dispatch_uid="friends")
