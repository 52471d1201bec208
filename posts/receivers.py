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
