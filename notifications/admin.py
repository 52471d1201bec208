from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Viewable, not editable: notifications are written by their causes only. Deleting stays
    with Django's delete permission: deleting a comment or a post in the admin takes its
    notifications along, which the admin allows only to whoever may delete those."""

    list_display = ["id", "type", "recipient", "actor", "read", "created_at"]
    list_select_related = ["recipient", "actor"]
    list_filter = ["type", "read"]
    search_fields = ["recipient__username", "actor__username"]
    ordering = ["-created_at", "-id"]
    raw_id_fields = ["recipient", "actor", "post", "comment", "chat"]
    readonly_fields = ["id", "type", "recipient", "actor", "post", "comment", "chat", "text", "read", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
