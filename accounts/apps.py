from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Пользователи"

    def ready(self):
        from social import schema  # noqa: F401  (registers the OpenAPI auth extensions)
