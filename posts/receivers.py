"""How posts react to account changes (`accounts.signals`), connected in PostsConfig.ready()."""

from posts import services


def on_user_shown_fields_changed(sender, *, user_id, **kwargs) -> None:
    # Their posts and the posts they liked show the old name or avatar.
    services.post_representations_touch(user_id=user_id)


def on_user_deleting(sender, *, user_id, **kwargs) -> None:
    # Their posts, likes and views go by cascade: take back the counters and the stored files
    # that the cascade alone would leave behind.
    services.user_reactions_withdraw(user_id=user_id)
    services.user_posts_files_release(user_id=user_id)


def on_user_purging(sender, *, user_id, limit, **kwargs) -> int:
    # One bounded step of a deleted account's purge: their reactions (counters taken back),
    # then their posts with the stored files.
    return services.user_content_purge(user_id=user_id, limit=limit)


def on_user_exporting(sender, *, user_id, **kwargs):
    # Their posts (with their images' names in the archive), the ids of the posts they liked,
    # their comments, and their posts' original files.
    from accounts.export import ExportPart
    from posts import selectors

    return ExportPart(
        sections={
            "posts": lambda: selectors.user_posts_export(user_id=user_id),
            "liked_post_ids": lambda: selectors.user_liked_post_ids(user_id=user_id),
            "comments": lambda: selectors.user_comments_export(user_id=user_id),
        },
        files=lambda: selectors.user_post_files(user_id=user_id),
    )


def on_user_unblocked(sender, *, blocker, blocked, **kwargs) -> None:
    # Their kept recommended rankings were made without each other's posts: rank anew.
    from posts.recommendations.pages import rankings_forget

    rankings_forget(viewer_ids=[blocker.pk, blocked.pk])
