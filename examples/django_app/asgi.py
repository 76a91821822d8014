"""The ASGI entry point: Django's application inside the logout middleware.

Django does not speak the ASGI lifespan protocol: run uvicorn with ``--lifespan off``.
"""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from logout_middleware.asgi import LogoutMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")

application = LogoutMiddleware(get_asgi_application(), **settings.LOGOUT_MIDDLEWARE)
