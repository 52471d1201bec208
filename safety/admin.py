from django.contrib import admin

from safety.models import Block


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    """Blocks for staff to look into (who blocks whom, e.g. while reading a report). Read only:
    a block is its blocker's decision, and the API's service is what ends the friendship."""

    list_display = ["blocker", "blocked", "created_at"]
    list_select_related = ["blocker", "blocked"]
    search_fields = ["blocker__username", "blocked__username"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    ordering = ["-created_at", "-id"]
    raw_id_fields = ["blocker", "blocked"]
    # No COUNT(*) over the whole table under the filtered list.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
