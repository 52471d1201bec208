from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import transaction
from django.db.models import Subquery

from accounts import services
from accounts.models import User


class PasswordChangeForm(AdminPasswordChangeForm):
    """The admin's password reset, through the service: the user's sessions end with it."""

    def save(self, commit=True):
        if not commit:
            return super().save(commit=False)
        usable = self.cleaned_data.get("set_usable_password", True)
        services.user_password_set(user=self.user, password=self.cleaned_data["password1"] if usable else None)
        return self.user


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["username", "email", "date_joined", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "email"]
    readonly_fields = ["id", "date_joined", "last_login"]
    show_full_result_count = False
    actions = ["deactivate_users", "reactivate_users"]
    change_password_form = PasswordChangeForm
    fieldsets = [
        (None, {"fields": ["id", "email", "username", "password", "avatar"]}),
        ("Права", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Даты", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "username", "password1", "password2"]})]
    filter_horizontal = ["groups", "user_permissions"]

    # Columns that the apps above accounts count for a user (posts, friends): accounts knows
    # no domain app, so each app adds its own from its admin module (`count_column`).
    counted: dict[str, Callable[[], Subquery]] = {}

    @classmethod
    def count_column(cls, name: str, description: str, subquery: Callable[[], Subquery]) -> None:
        """Add a sortable column `name` to the changelist: `subquery()` is a correlated count
        (`social.db.count_subquery` on an OuterRef("pk")), computed for the page's rows only;
        two of them do not multiply each other the way two joined COUNTs would."""
        cls.counted[name] = subquery

        @admin.display(description=description, ordering=name)
        def column(self, user):
            return getattr(user, name)

        setattr(cls, name, column)
        cls.list_display = [*cls.list_display, name]

    def get_queryset(self, request):
        counts = {name: subquery() for name, subquery in self.counted.items()}
        return super().get_queryset(request).annotate(**counts)

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change:
                services.user_edited(user=obj, fields=form.changed_data)

    # Deletion, of one user or of a selection, through the one service that takes back what
    # the cascade would leave wrong and closes their sockets.
    def delete_model(self, request, obj):
        services.user_delete(user=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user in queryset:
                services.user_delete(user=user)

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
