from django.contrib import admin
from django.db import transaction
from django.db.models import OuterRef

from accounts.admin import UserAdmin
from friends import services
from friends.models import Friendship
from social.db import count_subquery
from social.exceptions import NotFound

UserAdmin.count_column(
    "friends_total", "друзья", lambda: count_subquery(Friendship.objects.filter(user=OuterRef("pk")))
)


@admin.register(Friendship)
class FriendshipAdmin(admin.ModelAdmin):
    """Friendships for staff. Each row is one direction of a mutual friendship, so adding and
    deleting go through the services, which write or remove both rows together; an existing
    row's users cannot be changed (that would leave its mirror row behind)."""

    list_display = ["user", "friend", "created_at"]
    list_select_related = ["user", "friend"]
    search_fields = ["user__username", "friend__username"]
    autocomplete_fields = ["user", "friend"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "friend", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing editable on an existing row
        # The form has already refused a duplicate or a self row (the model's constraints).
        row = services.friendship_add(user=obj.user, friend=obj.friend)
        obj.pk, obj.created_at = row.pk, row.created_at

    def delete_model(self, request, obj):
        try:
            services.friendship_remove(user=obj.user, friend=obj.friend)
        except NotFound:
            pass  # already removed meanwhile: the admin's goal is reached

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        # Selecting both rows of one friendship removes it once; the second finds it gone.
        for row in queryset.select_related("user", "friend"):
            self.delete_model(request, row)
