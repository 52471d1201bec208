from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve as serve_file
from drf_spectacular.views import SpectacularAPIView

from accounts.admin_login import admin_login
from social import errors
from social.docs import SwaggerView
from social.health import health, live
from social.metrics_endpoint import metrics_view
from social.routes import route

# Django tries the patterns in order: the load balancer's probe and the post lists (the
# hottest reads) come first. No two patterns match the same path, so the order changes nothing else.
api = [
    *route("health", health, name="health"),
    *route("metrics", metrics_view, name="metrics"),
    *route("health/live", live, name="health-live"),
    path("", include("posts.urls")),
    path("", include("chats.urls")),
    path("", include("friends.urls")),
    path("", include("safety.urls")),
    path("", include("notifications.urls")),
    path("", include("moderation.urls")),
    path("", include("accounts.urls")),
    *route("schema", SpectacularAPIView.as_view(), name="schema"),
    *route("docs", SwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^.*$", errors.api_not_found),
]

urlpatterns = [
    path("api/", include(api)),
    # Before the admin's own routes: its login page under the API login's rate limit.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
]

if not settings.AWS_STORAGE_BUCKET_NAME:
    # The embedded default serves its own media through a real view: `static()` would vanish
    # with DEBUG off (and under pytest). Production media live on S3.
    urlpatterns.append(re_path(r"^media/(?P<path>.+)$", serve_file, {"document_root": settings.MEDIA_ROOT}))

handler400 = "social.errors.json_400"
handler403 = "social.errors.json_403"
handler404 = "social.errors.json_404"
handler500 = "social.errors.json_500"
