"""How notifications react to the domain signals of friends, posts and chats, connected in
NotificationsConfig.ready(). Each runs inside the transaction of its cause."""

from notifications import services
from notifications.models import Notification


def on_friend_added(sender, *, user, friend, **kwargs) -> None:
    services.notification_create(recipient_id=friend.pk, actor_id=user.pk, type=Notification.Type.FRIEND_ADDED)


def on_post_liked(sender, *, post_id, author_id, actor, notified=None, **kwargs) -> None:
    if notified is not None:  # written by the toggle's own statement (services.like_notification_sql)
        services.like_notification_announce(post_id=post_id, recipient_id=author_id, actor=actor, written=notified)
    else:
        services.like_notification_create(post_id=post_id, recipient_id=author_id, actor=actor)


def on_post_unliked(sender, *, post_id, author_id, actor_id, notified=None, **kwargs) -> None:
    if notified is None:  # else withdrawn by the toggle's own statement, which no event follows
        services.like_notification_withdraw(post_id=post_id, recipient_id=author_id, actor_id=actor_id)


def on_comment_created(sender, *, comment, post_id, author_id, **kwargs) -> None:
    services.notification_create(
        recipient_id=author_id,
        actor_id=comment.author_id,
        type=Notification.Type.POST_COMMENTED,
        post_id=post_id,
        comment_id=comment.pk,
        text=comment.text,
    )


def on_chat_members_added(sender, *, chat_id, actor_id, user_ids, **kwargs) -> None:
    services.notifications_create(
        recipient_ids=user_ids, actor_id=actor_id, type=Notification.Type.CHAT_ADDED, chat_id=chat_id
    )


def on_user_purging(sender, *, user_id, limit, **kwargs) -> int:
    # One bounded step of a deleted account's purge (accounts.signals): their notifications,
    # received and caused.
    return services.user_notifications_purge(user_id=user_id, limit=limit)
