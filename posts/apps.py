from django.apps import AppConfig


class PostsConfig(AppConfig):
    name = "posts"

    def ready(self):
        from accounts import signals
        from posts import receivers
        from safety import signals as safety_signals

        signals.user_shown_fields_changed.connect(receivers.on_user_shown_fields_changed, dispatch_uid="posts")
        signals.user_deleting.connect(receivers.on_user_deleting, dispatch_uid="posts")
        signals.user_purging.connect(receivers.on_user_purging, dispatch_uid="posts")
        signals.user_exporting.connect(receivers.on_user_exporting, dispatch_uid="posts")
        safety_signals.user_unblocked.connect(receivers.on_user_unblocked, dispatch_uid="posts")
