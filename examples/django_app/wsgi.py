"""The WSGI entry point; the database is made or migrated first.

gunicorn imports it in its worker: run one worker, or migrate before starting several.
"""

import os

from django.core.management import call_command
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")

application = get_wsgi_application()
call_command("migrate", interactive=False, verbosity=0)
