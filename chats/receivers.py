"""How chats react to account changes (`accounts.signals`), connected in ChatsConfig.ready()."""

from chats import services


def on_user_deleting(sender, *, user_id, **kwargs) -> None:
    # Their messages go by cascade: the chats' counters must not keep counting them.
    services.user_messages_withdraw(user_id=user_id)


def on_user_purging(sender, *, user_id, limit, **kwargs) -> int:
    # One bounded step of a deleted account's purge: their messages (counters taken back),
    # the chats they own, their memberships.
    return services.user_chats_purge(user_id=user_id, limit=limit)


def on_user_exporting(sender, *, user_id, **kwargs):
    # Their chats, each with the messages they wrote there, and those messages' photos.
    from accounts.export import ExportPart
    from chats import selectors

    return ExportPart(
        sections={"chats": lambda: selectors.user_chats_export(user_id=user_id)},
        files=lambda: selectors.user_message_files(user_id=user_id),
    )
