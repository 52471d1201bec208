"""WSGI entry point: REST only (gunicorn in the production shape)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
application = get_wsgi_application()
