"""The sans-I/O core: plain request values in, plain decisions out, and no I/O of its own.

* :mod:`.values`: what crosses the seam (requests, replies, verdicts, and what a flow asks for);
* :mod:`.handler`: the core assembled from the configuration, with its path table;
* :mod:`.logout`: the logout that starts at the app, and the provider's redirect back;
* :mod:`.provider_logout`: the back-channel and front-channel receivers;
* :mod:`.forward_auth`: the reverse proxy's question before each request;
* :mod:`.session_check`, :mod:`.app_sessions`, :mod:`.enforcement`: the per-request check;
* :mod:`.provider_keys`, :mod:`.allowance`: what the flows share.
"""
