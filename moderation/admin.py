"""The reports queue: what moderators work through (EXTENSIONS.md §5).

By default the queue shows the open reports grouped by target: one row per reported thing (its
newest report), with how many open reports it has, the latest reason and the target itself
from the report's snapshot (post thumbnails, a message with its chat, a comment, a user), so
the evidence shows even when the content is gone. Its count links to every report of that
target. Actions go through the apps' services and close every open report of the target.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from moderation import services
from moderation.models import Report, ReportImage
from social.db import count_subquery
from social.exceptions import DomainError

EXCERPT_LENGTH = 200
THUMBNAILS = 4

# The permission a moderator needs, beyond changing reports, to delete each kind's content.
DELETE_PERMISSIONS = {
    Report.Target.POST: "posts.delete_post",
    Report.Target.COMMENT: "posts.delete_comment",
    Report.Target.MESSAGE: "chats.delete_message",
}
DEACTIVATE_PERMISSION = "accounts.change_user"
# The admin page of each kind of target, while it still exists.
TARGET_PAGES = {
    Report.Target.POST: "admin:posts_post_change",
    Report.Target.COMMENT: "admin:posts_comment_change",
    Report.Target.MESSAGE: "admin:chats_message_change",
    Report.Target.USER: "admin:accounts_user_change",
}


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"


class DefaultedFilter(admin.SimpleListFilter):
    """A filter with a default choice instead of Django's "All": `current()` is the chosen
    lookup or `default`, and the default is shown selected when none was chosen."""

    default = ""

    def current(self) -> str:
        return self.value() or self.default

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.current() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class StatusFilter(DefaultedFilter):
    """Open reports unless asked otherwise: the queue is what is left to do."""

    title = "статус"
    parameter_name = "status"
    ALL = "all"
    default = Report.Status.OPEN

    def lookups(self, request, model_admin):
        return [*Report.Status.choices, (self.ALL, "все")]

    def queryset(self, request, queryset):
        current = self.current()
        return queryset if current == self.ALL else queryset.filter(status=current)


class GroupFilter(DefaultedFilter):
    """One row per target (its newest report in the chosen status) unless every report is
    asked for. Served by the open-target index: one probe per row of the page."""

    title = "показ"
    parameter_name = "group"
    BY_TARGET, EVERY = "target", "every"
    default = BY_TARGET

    def lookups(self, request, model_admin):
        return [(self.BY_TARGET, "по цели"), (self.EVERY, "каждая жалоба")]

    def queryset(self, request, queryset):
        if self.current() != self.BY_TARGET:
            return queryset
        newer = Report.objects.filter(
            target_kind=OuterRef("target_kind"),
            target_id=OuterRef("target_id"),
            status=OuterRef("status"),
            pk__gt=OuterRef("pk"),
        )
        return queryset.filter(~Exists(newer))


class ReportImageInline(admin.TabularInline):
    model = ReportImage
    extra = 0
    fields = ["preview", "file", "thumb", "position"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="превью")
    def preview(self, image):
        return format_html('<img src="{}" alt="" style="max-height:160px">', (image.thumb or image.file).url)


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "target",
        "open_reports",
        "latest_reason",
        "author",
        "reporter_username",
        "reason",
        "status",
        "created_at",
    ]
    list_display_links = ["id"]
    list_filter = [StatusFilter, GroupFilter, "target_kind", "reason"]
    search_fields = ["=target_id", "reporter_username", "target_author_username"]
    search_help_text = "Точный id цели или имя жалобщика / автора."
    ordering = ["-created_at", "-id"]
    # No COUNT(*) over the whole table on every filtered page.
    show_full_result_count = False
    actions = ["delete_content", "deactivate_author", "dismiss"]
    inlines = [ReportImageInline]
    readonly_fields = [
        "id",
        "target_kind",
        "target_id",
        "target_page",
        "reason",
        "text",
        "snapshot_text",
        "context_id",
        "context_title",
        "reporter",
        "reporter_username",
        "target_author",
        "target_author_username",
        "status",
        "created_at",
        "closed_at",
        "closed_by",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # reports come from users, through the API

    def lookup_allowed(self, lookup, value, request=None):
        # The "open reports" column links to every report of one target.
        return lookup == "target_id" or super().lookup_allowed(lookup, value, request)

    def get_queryset(self, request):
        open_of_target = Report.objects.filter(
            target_kind=OuterRef("target_kind"), target_id=OuterRef("target_id"), status=Report.Status.OPEN
        )
        latest = open_of_target.order_by("-created_at", "-id").values("reason")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(open_total=count_subquery(open_of_target), latest_open_reason=Subquery(latest))
            .prefetch_related("images")
        )

    # --- Columns ----------------------------------------------------------------------------
    @admin.display(description="цель")
    def target(self, report):
        kind = report.get_target_kind_display()
        text = _excerpt(report.snapshot_text)
        if report.target_kind == Report.Target.MESSAGE:
            where = format_html(" в чате «{}» ({})", report.context_title, report.context_id)
        elif report.target_kind == Report.Target.COMMENT:
            where = format_html(" к посту {}", report.context_id)
        else:
            where = ""
        thumbs = format_html_join(
            "",
            '<img src="{}" alt="" style="height:48px;width:48px;object-fit:cover;margin-right:2px">',
            (((image.thumb or image.file).url,) for image in list(report.images.all())[:THUMBNAILS]),
        )
        return format_html("<b>{}</b>{}: {}<br>{}", kind, where, text, thumbs)

    @admin.display(description="открытых жалоб на цель", ordering="open_total")
    def open_reports(self, report):
        query = urlencode(
            {"target_kind": report.target_kind, "target_id": report.target_id, "status": "all", "group": "every"}
        )
        return format_html('<a href="?{}">{}</a>', query, report.open_total)

    @admin.display(description="последняя причина")
    def latest_reason(self, report):
        return Report.Reason(report.latest_open_reason).label if report.latest_open_reason else "—"

    @admin.display(description="автор", ordering="target_author_username")
    def author(self, report):
        return report.target_author_username

    @admin.display(description="цель в админке")
    def target_page(self, report):
        try:
            url = reverse(TARGET_PAGES[report.target_kind], args=[report.target_id])
        except NoReverseMatch:
            return "—"
        return format_html('<a href="{}">{}</a>', url, report.target_id)

    # --- Deletion goes through the service: the copied files go with the report -------------
    def delete_model(self, request, obj):
        services.reports_delete(reports=[obj])

    def delete_queryset(self, request, queryset):
        services.reports_delete(reports=queryset)

    # --- Actions ----------------------------------------------------------------------------
    def _per_target(self, request, queryset, act, done_text: str, permission=None) -> None:
        """Run `act(report=…, moderator=…)` once per target among the selected reports, each
        logged in the admin log on that report, and say how many reports it closed."""
        seen, acted, closed, refused = set(), 0, 0, []
        for report in queryset.order_by("-created_at", "-id"):
            key = (report.target_kind, report.target_id)
            if key in seen:
                continue
            seen.add(key)
            needed = permission(report) if permission else None
            if needed and not request.user.has_perm(needed):
                refused.append(f"#{report.pk}: нет права {needed}")
                continue
            try:
                count = act(report=report, moderator=request.user)
            except (ValidationError, PermissionDenied, DomainError) as error:
                refused.append(f"#{report.pk}: {' '.join(getattr(error, 'messages', [str(error)]))}")
                continue
            acted, closed = acted + 1, closed + count
            self.log_change(request, report, f"{done_text}; закрыто открытых жалоб на цель: {count}.")
        if acted:
            self.message_user(request, f"{done_text}. Закрыто жалоб: {closed}.", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.ERROR)

    @admin.action(description="Удалить контент (и закрыть жалобы на него)", permissions=["change"])
    def delete_content(self, request, queryset):
        self._per_target(
            request,
            queryset,
            services.report_target_delete,
            "Контент удалён",
            permission=lambda report: DELETE_PERMISSIONS.get(report.target_kind),
        )

    @admin.action(description="Деактивировать автора (и закрыть жалобы)", permissions=["change"])
    def deactivate_author(self, request, queryset):
        self._per_target(
            request,
            queryset,
            services.report_author_deactivate,
            "Автор деактивирован",
            permission=lambda report: DEACTIVATE_PERMISSION,
        )

    @admin.action(description="Отклонить жалобы", permissions=["change"])
    def dismiss(self, request, queryset):
        self._per_target(request, queryset, services.report_dismiss, "Жалобы отклонены")
