from django.contrib import admin
from django.db.models import OuterRef
from django.utils.html import format_html, format_html_join

from accounts.admin import UserAdmin
from posts import services
from posts.models import Comment, Post, PostImage
from posts.state import post_state_initial
from social.db import count_subquery

PREVIEWS = 3  # thumbnails per post in the changelist


def _preview_url(image: PostImage) -> str:
    """The thumb variant (a few KB) rather than the original (up to 10 MB) a list page would
    otherwise load per row; the original until manage.py backfill_media made the thumb."""
    return (image.thumb or image.file).url


UserAdmin.count_column("posts_total", "посты", lambda: count_subquery(Post.objects.filter(author=OuterRef("pk"))))


class PostImageInline(admin.TabularInline):
    model = PostImage
    extra = 0
    fields = ["preview", "file", "position", "width", "height", "thumb", "medium", "blurhash"]
    # Images come through the API, where they are decoded and stripped of EXIF; the admin
    # only shows them.
    readonly_fields = fields

    @admin.display(description="превью")
    def preview(self, image):
        return format_html('<img src="{}" alt="" style="max-height:96px">', _preview_url(image))

    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "author",
        "preview",
        "short_description",
        "created_at",
        "likes_count",
        "views_count",
        "comments_count",
    ]
    list_select_related = ["author"]
    search_fields = ["description", "author__username"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    autocomplete_fields = ["author"]
    # The counters are kept by the services; nobody edits them by hand.
    readonly_fields = ["id", "created_at", "likes_count", "views_count", "comments_count"]
    fields = ["id", "author", "description", "created_at", "likes_count", "views_count", "comments_count"]
    inlines = [PostImageInline]
    # No COUNT(*) over the whole table on every filtered changelist page.
    show_full_result_count = False

    def get_queryset(self, request):
        # One query for the page's images, whatever the number of rows (the previews).
        return super().get_queryset(request).prefetch_related("images")

    @admin.display(description="превью")
    def preview(self, post):
        images = list(post.images.all())[:PREVIEWS]
        return format_html_join(
            "",
            '<img src="{}" alt="" style="height:48px;width:48px;object-fit:cover;margin-right:2px">',
            ((_preview_url(image),) for image in images),
        )

    @admin.display(description="описание")
    def short_description(self, post):
        return post.description[:80]

    def save_model(self, request, obj, form, change):
        if change:
            # Only what the form changed, and the rev moves (the cached encodings).
            services.post_edit(post=obj, fields=form.changed_data)
            return
        # As post_create does: a post added here is a recommendation candidate at once.
        for name, value in post_state_initial(created_at=obj.created_at).items():
            setattr(obj, name, value)
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        # Through the service, so the stored files go with the post.
        services.post_delete(post=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for post in queryset:
            services.post_delete(post=post, actor=request.user)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    """Comments are moderated like posts: found by text or author, deleted through the service
    (the post's counter follows); never edited or added here."""

    list_display = ["id", "author", "post", "short_text", "created_at"]
    list_select_related = ["author", "post"]
    search_fields = ["text", "author__username"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    raw_id_fields = ["author", "post"]
    readonly_fields = ["id", "author", "post", "text", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="текст")
    def short_text(self, comment):
        return comment.text[:80]

    def delete_model(self, request, obj):
        services.comment_delete(comment=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for comment in queryset.select_related("post"):
            services.comment_delete(comment=comment, actor=request.user)
