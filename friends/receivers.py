"""How friends react to account changes (`accounts.signals`) and blocks (`safety.signals`),
connected in FriendsConfig.ready()."""


def on_user_blocked(sender, *, blocker, blocked, **kwargs):
    # A block ends the friendship, in the block's transaction (EXTENSIONS.md §5).
    from friends import services

    services.friendship_end(user_id=blocker.pk, friend_id=blocked.pk)


def on_user_purging(sender, *, user_id, limit, **kwargs) -> int:
    # One bounded step of a deleted account's purge: their friendships, both ways.
    from friends import services

    return services.user_friendships_purge(user_id=user_id, limit=limit)


def on_user_exporting(sender, *, user_id, **kwargs):
    # Their friends list, for their export.
    from accounts.export import ExportPart
    from friends import selectors

    return ExportPart(sections={"friends": lambda: selectors.user_friends_export(user_id=user_id)})
