from django.apps import AppConfig


class FriendsConfig(AppConfig):
    name = "friends"

    def ready(self):
        from accounts import signals
        from friends import receivers
        from safety import signals as safety_signals

        signals.user_purging.connect(receivers.on_user_purging, dispatch_uid="friends")
        signals.user_exporting.connect(receivers.on_user_exporting, dispatch_uid="friends")
        safety_signals.user_blocked.connect(receivers.on_user_blocked, dispatch_uid="friends")
