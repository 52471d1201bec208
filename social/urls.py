from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve as serve_file
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from social import errors
from social.health import health
from social.routes import route

api = [
    *route("health", health, name="health"),
    *route("schema", SpectacularAPIView.as_view(), name="schema"),
    *route("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("accounts.urls")),
    path("", include("posts.urls")),
    path("", include("friends.urls")),
    path("", include("chats.urls")),
    re_path(r"^.*$", errors.api_not_found),
]

urlpatterns = [
    path("api/", include(api)),
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
