from accounts import views
from social.routes import route

urlpatterns = [
    *route("auth/register", views.RegisterView.as_view(), name="auth-register"),
    *route("auth/login", views.LoginView.as_view(), name="auth-login"),
    *route("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    *route("auth/current_user", views.CurrentUserView.as_view(), name="auth-current-user"),
    *route("auth/token", views.TokenView.as_view(), name="auth-token"),
    *route("auth/token/refresh", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    *route("auth/settings", views.SettingsView.as_view(), name="auth-settings"),
    *route("auth/csrf", views.CsrfView.as_view(), name="auth-csrf"),
    *route("auth/sessions", views.SessionsView.as_view(), name="auth-sessions"),
    *route("auth/sessions/<str:session_id>", views.SessionView.as_view(), name="auth-session"),
    *route("auth/export", views.ExportView.as_view(), name="auth-export"),
    *route("auth/account/delete", views.AccountDeleteView.as_view(), name="auth-account-delete"),
    *route("auth/password", views.PasswordChangeView.as_view(), name="auth-password"),
    *route("auth/password/reset", views.PasswordResetView.as_view(), name="auth-password-reset"),
    *route(
        "auth/password/reset/confirm",
        views.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
]
