import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from social.uploads import random_upload_path


class Post(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # Counters move with F() expressions in the services; the rows in Like/PostView are the truth.
    likes_count = models.PositiveIntegerField(default=0)
    views_count = models.PositiveIntegerField(default=0)
    comments_count = models.PositiveIntegerField(default=0)
    # Time-decayed popularity for the recommended feed (posts/scores.py): set on create, moved
    # with the counters in the same UPDATE, recomputed by `manage.py refresh_post_scores`.
    hot_score = models.FloatField(default=0.0, editable=False)
    # Moves (in the same UPDATE) with every write that changes the post's representation: its
    # counters, its text, its likers, its author's or likers' profiles. The per-process cache
    # of encoded posts (posts/fragments.py) serves an entry only while its rev is current.
    rev = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "пост"
        verbose_name_plural = "посты"
        indexes = [
            # Keyset pagination of the feed and of one author's posts.
            models.Index(fields=["-created_at", "-id"], name="post_feed_idx"),
            models.Index(fields=["author", "-created_at", "-id"], name="post_author_feed_idx"),
            # The recommended feed's popular-and-recent candidates: one index range scan.
            models.Index(fields=["-hot_score", "-id"], name="post_hot_idx"),
        ]

    def __str__(self):
        return f"{self.author_id}: {self.description[:40]}"


# The stored images of demo data (manage.py seed_demo) live under this prefix, each shared by
# many posts: deleting a post or its author never deletes them (posts.services).
SEED_FILES_PREFIX = "seed/"


def post_image_path(instance, filename):
    # Also used by the admin: a stored name never derives from the client's file name.
    return random_upload_path("posts", filename)


class PostImage(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(upload_to=post_image_path, max_length=255)
    position = models.PositiveSmallIntegerField(default=0)
    # The post object's `media` (EXTENSIONS.md §7), made at upload by social.images from the
    # same decoded pixels as `file`. Empty on images stored before #24 until
    # `manage.py backfill_media` fills them (an empty `thumb` is what it looks for).
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    blurhash = models.CharField(max_length=64, blank=True, default="")
    # WebP variants, each under its own random name (nothing to guess from the original's).
    thumb = models.ImageField(upload_to=post_image_path, max_length=255, blank=True, default="")
    thumb_width = models.PositiveIntegerField(null=True, blank=True)
    thumb_height = models.PositiveIntegerField(null=True, blank=True)
    medium = models.ImageField(upload_to=post_image_path, max_length=255, blank=True, default="")
    medium_width = models.PositiveIntegerField(null=True, blank=True)
    medium_height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "изображение"
        verbose_name_plural = "изображения"
        ordering = ["post", "position"]
        constraints = [models.UniqueConstraint(fields=["post", "position"], name="post_image_position_unique")]


class Like(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "лайк"
        verbose_name_plural = "лайки"
        constraints = [models.UniqueConstraint(fields=["post", "user"], name="like_once_per_user")]
        indexes = [models.Index(fields=["post", "-created_at", "-id"], name="like_recent_idx")]


class PostView(models.Model):
    """One row per (post, viewer): `views` counts distinct viewers other than the author."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="views")
    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="post_views")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "viewer"], name="view_once_per_viewer")]


# A comment's text: 1–2000 characters, not only whitespace (EXTENSIONS.md §3).
COMMENT_MAX_LENGTH = 2000


class Comment(models.Model):
    """A comment on a post. `Post.comments_count` counts these rows (posts/state.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    text = models.TextField(max_length=COMMENT_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "комментарий"
        verbose_name_plural = "комментарии"
        indexes = [
            # A post's comments page, oldest first: keyset on (created_at, id) within the post.
            models.Index(fields=["post", "created_at", "id"], name="comment_post_page_idx"),
            # A user's comments (their deletion takes the counters back; the admin's author search).
            models.Index(fields=["author", "post"], name="comment_author_idx"),
        ]

    def __str__(self):
        return f"{self.author_id}: {self.text[:40]}"
