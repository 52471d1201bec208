"""The floor of `make bench`: the least Django can do per request (no apps, no middleware, no
database), served exactly like the API (gunicorn, one sync worker per core)."""

SECRET_KEY = "bench-floor-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.floor.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
