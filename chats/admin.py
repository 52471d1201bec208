"""Chats, members and messages for staff, usable on a chat with a million messages.

No widget ever lists every user, chat or message (raw id fields, no list filters on foreign
keys), the message list joins its chat and author in the same query and skips the unfiltered
COUNT(*). Deletions go through the services, so open sockets hear about them.
"""

from uuid import UUID

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import OuterRef, Q
from django.utils.functional import cached_property
from django.utils.html import format_html_join

from chats import services
from chats.models import Chat, ChatMember, Message
from social.db import count_subquery
from social.files import stored_name_url

EXCERPT_LENGTH = 80


class EstimatedCountPaginator(Paginator):
    """An unfiltered message list is counted from PostgreSQL's statistics, not by COUNT(*)."""

    @cached_property
    def count(self):
        query = self.object_list.query
        if connection.vendor == "postgresql" and not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [Message._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return row[0]
        return super().count


class ExactIdSearchMixin:
    """Search by an exact chat id or user id (a UUID), served by their indexes.

    The admin's own `=field` search on a UUID compares text (`iexact`), which scans the table.
    """

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = UUID(term)
        except ValueError:
            return queryset.none(), False
        return queryset.filter(Q(chat_id=value) | Q(user_id=value)), False


class ChatMemberInline(admin.TabularInline):
    model = ChatMember
    raw_id_fields = ["user"]
    # The read state: kept by chats.services.read_marker_move only, shown, never edited here.
    readonly_fields = ["joined_at", "last_read_message_id"]
    extra = 0


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ["title", "id", "owner", "members", "messages_count", "last_message_at", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["title"]
    raw_id_fields = ["owner"]

    def delete_model(self, request, obj):
        # Through the service: the members' sockets hear of it, the stored files go too.
        services.chat_delete(chat=obj)

    def delete_queryset(self, request, queryset):
        for chat in queryset.iterator():
            services.chat_delete(chat=chat)

    def get_queryset(self, request):
        # Members counted per row by a correlated subquery (at most 500 rows each, indexed);
        # messages come from the counter the services keep.
        members = count_subquery(ChatMember.objects.filter(chat=OuterRef("pk")))
        return super().get_queryset(request).annotate(members_total=members)

    @admin.display(description="участники", ordering="members_total")
    def members(self, chat):
        return chat.members_total

    def get_search_results(self, request, queryset, search_term):
        try:
            return queryset.filter(pk=UUID(search_term.strip())), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)

    readonly_fields = ["id", "direct_key", "created_at", "last_message_at", "messages_count"]
    inlines = [ChatMemberInline]
    show_full_result_count = False
    ordering = ["-created_at"]

    def save_formset(self, request, form, formset, change):
        if formset.model is not ChatMember:
            return super().save_formset(request, form, formset, change)
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            # Through the service: the removed member's sockets close with 4403.
            services.chat_member_remove(chat=membership.chat, user=membership.user)
        for membership in instances:
            membership.save()
        formset.save_m2m()


@admin.register(ChatMember)
class ChatMemberAdmin(ExactIdSearchMixin, admin.ModelAdmin):
    list_display = ["chat", "user", "joined_at"]
    list_select_related = ["chat", "user"]
    raw_id_fields = ["chat", "user"]
    search_fields = ["chat", "user"]  # enables the search box; see ExactIdSearchMixin
    search_help_text = "Точный id чата или пользователя."
    show_full_result_count = False
    ordering = ["-id"]

    def delete_model(self, request, obj):
        services.chat_member_remove(chat=obj.chat, user=obj.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("chat", "user").iterator():
            services.chat_member_remove(chat=membership.chat, user=membership.user)


@admin.register(Message)
class MessageAdmin(ExactIdSearchMixin, admin.ModelAdmin):
    list_display = ["id", "chat", "author", "excerpt", "photos", "created_at", "edited_at"]
    list_select_related = ["chat", "user"]
    raw_id_fields = ["chat", "user", "reply_to"]
    # Exact ids only (ExactIdSearchMixin): a text search would scan a million rows.
    search_fields = ["chat", "user"]
    search_help_text = "Точный id чата или пользователя."
    # The photos are stored files named on the row: shown, never edited by hand (deleting the
    # message deletes them).
    readonly_fields = ["created_at", "edited_at", "client_ref", "image_previews"]
    exclude = ["images"]
    show_full_result_count = False
    ordering = ["-id"]
    paginator = EstimatedCountPaginator

    @admin.display(description="автор", ordering="user__username")
    def author(self, message):
        return message.user

    @admin.display(description="текст")
    def excerpt(self, message):
        text = message.text
        return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"

    @admin.display(description="фото")
    def photos(self, message):
        return len(message.images) or ""

    @admin.display(description="фотографии")
    def image_previews(self, message):
        return format_html_join(
            " ",
            '<a href="{0}"><img src="{0}" alt="" style="max-height:96px"></a>',
            ((stored_name_url(name),) for name in message.images),
        )

    def delete_model(self, request, obj):
        # Through the service: the chat's sockets get a `message.deleted` frame.
        services.message_delete(message=obj)

    def delete_queryset(self, request, queryset):
        for message in queryset.iterator():
            services.message_delete(message=message)
