from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "уведомления"

    def ready(self):
        # The apps below send domain signals inside their transactions; a notification is
        # written in the same one, so it exists exactly when its cause does.
        from accounts import signals as accounts_signals
        from chats import signals as chats_signals
        from friends import signals as friends_signals
        from notifications import receivers, services
        from posts import signals as posts_signals

        friends_signals.friend_added.connect(receivers.on_friend_added, dispatch_uid="notifications")
        posts_signals.post_liked.connect(receivers.on_post_liked, dispatch_uid="notifications")
        posts_signals.post_unliked.connect(receivers.on_post_unliked, dispatch_uid="notifications")
        # A like's notification is written by the like's own statement (one round trip).
        posts_signals.like_toggle_writes_connect(services.like_notification_sql)
        posts_signals.comment_created.connect(receivers.on_comment_created, dispatch_uid="notifications")
        chats_signals.chat_members_added.connect(receivers.on_chat_members_added, dispatch_uid="notifications")
        accounts_signals.user_purging.connect(receivers.on_user_purging, dispatch_uid="notifications")
