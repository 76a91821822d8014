"""The ASGI entry point; the database is made or migrated first.

Django does not speak the ASGI lifespan protocol: run uvicorn with ``--lifespan off``.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from django.core.asgi import get_asgi_application
from django.core.management import call_command

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")

application = get_asgi_application()
# uvicorn imports this module inside its event loop, where Django refuses database work: migrate in a thread.
with ThreadPoolExecutor(max_workers=1) as pool:
    pool.submit(call_command, "migrate", interactive=False, verbosity=0).result()
