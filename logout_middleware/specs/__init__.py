"""One module per standard, each without I/O: what the specifications say, as functions and small caches.

* :mod:`.end_session`: RP-Initiated Logout 1.0, the end-session URL (``build_logout_url``);
* :mod:`.providers`: presets for providers that bend it;
* :mod:`.discovery`: OpenID Connect Discovery 1.0, the provider's metadata;
* :mod:`.jwks`: the provider's signing keys (its JWK Set);
* :mod:`.jws`, :mod:`.token_shape`: compact JWS, checked and verified;
* :mod:`.id_token`: the id_token's session claims (Core 1.0);
* :mod:`.logout_token`: Back-Channel Logout 1.0's logout token;
* :mod:`.token_revocation`: RFC 7009 token revocation.
"""
