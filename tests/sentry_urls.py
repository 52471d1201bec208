"""The app's URLs plus one view that fails: the Sentry test needs a real unhandled error."""

from django.urls import path

from social.urls import urlpatterns as app_urlpatterns


def fails(request):
    raise RuntimeError("a failure for Sentry")


urlpatterns = [path("fails", fails), *app_urlpatterns]
handler500 = "social.errors.json_500"
