"""The drivers: they run the core's flows, performing everything it asks for (HTTP, store, the app's hook).

:mod:`.blocking` serves the front doors that block (WSGI, Flask, Django),
:mod:`.asynchronous` the ASGI one.  Each owns the revocation store of its
middleware, opened by the process that first uses it.
"""
