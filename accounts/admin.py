from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import OuterRef

from accounts import services
from accounts.models import User
from posts import services as posts_services
from social.db import count_subquery

# What a post object shows of a user (its author and its likers).
SHOWN_IN_POSTS = {"username", "email", "avatar"}


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["username", "email", "date_joined", "is_active", "is_staff", "posts_total", "friends_total"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "email"]
    readonly_fields = ["id", "date_joined", "last_login"]
    show_full_result_count = False
    actions = ["deactivate_users", "reactivate_users"]
    fieldsets = [
        (None, {"fields": ["id", "email", "username", "password", "avatar"]}),
        ("Права", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Даты", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "username", "password1", "password2"]})]
    filter_horizontal = ["groups", "user_permissions"]

    def get_queryset(self, request):
        from friends.models import Friendship
        from posts.models import Post

        return (
            super()
            .get_queryset(request)
            .annotate(
                # Correlated counts: computed for the page's rows only, and two of them do
                # not multiply each other the way two joined COUNTs would.
                posts_total=count_subquery(Post.objects.filter(author=OuterRef("pk"))),
                friends_total=count_subquery(Friendship.objects.filter(user=OuterRef("pk"))),
            )
        )

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change and SHOWN_IN_POSTS & set(form.changed_data):
                posts_services.post_representations_touch(user_id=obj.pk)

    # A user's deletion cascades to their posts, likes and views: take back the counters and
    # the stored files that the cascade alone would leave behind.
    def delete_model(self, request, obj):
        with transaction.atomic():
            self._before_deletion(obj.pk)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user_id in queryset.values_list("pk", flat=True):
                self._before_deletion(user_id)
            super().delete_queryset(request, queryset)

    @staticmethod
    def _before_deletion(user_id) -> None:
        posts_services.user_reactions_withdraw(user_id=user_id)
        posts_services.user_posts_files_release(user_id=user_id)

    @admin.display(description="посты", ordering="posts_total")
    def posts_total(self, user):
        return user.posts_total

    @admin.display(description="друзья", ordering="friends_total")
    def friends_total(self, user):
        return user.friends_total

    @admin.action(description="Деактивировать: выйти везде, закрыть сокеты", permissions=["change"])
    def deactivate_users(self, request, queryset):
        done = 0
        for user in queryset.filter(is_active=True):
            services.user_deactivate(user=user)
            self.log_change(request, user, "Деактивирован: все сессии завершены, сокеты закрыты (4401).")
            done += 1
        self.message_user(request, f"Деактивировано пользователей: {done}.", messages.SUCCESS)

    @admin.action(description="Активировать снова", permissions=["change"])
    def reactivate_users(self, request, queryset):
        done = 0
        for user in queryset.filter(is_active=False):
            services.user_reactivate(user=user)
            self.log_change(request, user, "Активирован снова.")
            done += 1
        self.message_user(request, f"Активировано пользователей: {done}.", messages.SUCCESS)
