"""The WSGI entry point: Django's application inside the logout middleware."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from logout_middleware.wsgi import LogoutMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")

application = LogoutMiddleware(get_wsgi_application(), **settings.LOGOUT_MIDDLEWARE)
