"""Presets for providers that bend RP-Initiated Logout, chosen with ``provider=``.

A provider that follows OpenID Connect RP-Initiated Logout 1.0 needs no
preset: its discovery document names the ``end_session_endpoint`` and the
standard parameters work.  Each preset below says what its provider does
differently, with the page that documents it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .end_session import build_logout_url

__all__ = ["PRESETS", "Preset", "preset_logout_url"]


@dataclass(frozen=True, slots=True)
class Preset:
    """How one provider wants the browser sent to its logout page."""

    name: str
    #: The provider's own documentation of its logout endpoint.
    documentation: str
    #: The query parameter that carries the post-logout redirect URI.
    redirect_param: str = "post_logout_redirect_uri"
    #: Whether the provider takes ``id_token_hint``, ``state``, ``logout_hint`` and ``ui_locales``.
    standard: bool = True
    #: The end-session path below the issuer, when discovery does not give it.
    path_below_issuer: str | None = None
    #: The provider has no logout endpoint: only the app's own cookies can be cleared.
    local_only: bool = False
    #: The provider refuses a post-logout redirect without ``id_token_hint``.
    needs_id_token_for_redirect: bool = False

    def endpoint_from_issuer(self, issuer: str) -> str | None:
        """The end-session URL known without discovery, if the provider has a fixed one."""
        if self.path_below_issuer is None:
            return None
        return issuer.rstrip("/") + self.path_below_issuer


PRESETS = {
    preset.name: preset
    for preset in (
        # The seed of this project: Authing's `build_logout_url` documents
        # {app_host}/oidc/session/end with post_logout_redirect_uri, id_token_hint, state.
        Preset(
            "authing",
            "https://docs.authing.cn/v2/reference/sdk-for-python/authentication/#生成登出地址",
            path_below_issuer="/session/end",
        ),
        # Keycloak 18+ refuses post_logout_redirect_uri unless id_token_hint or client_id comes with it.
        Preset(
            "keycloak",
            "https://www.keycloak.org/docs/latest/securing_apps/#_oidc-logout",
            path_below_issuer="/protocol/openid-connect/logout",
        ),
        # Okta requires id_token_hint on /v1/logout.
        Preset(
            "okta",
            "https://developer.okta.com/docs/reference/api/oidc/#logout",
            path_below_issuer="/v1/logout",
            needs_id_token_for_redirect=True,
        ),
        # Entra ID: issuer https://login.microsoftonline.com/{tenant}/v2.0, logout at
        # https://login.microsoftonline.com/{tenant}/oauth2/v2.0/logout; logout_hint skips the account picker.
        Preset(
            "entra",
            "https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request",
        ),
        # Auth0 tenants without RP-initiated logout enabled: /v2/logout?returnTo=&client_id=.
        Preset(
            "auth0",
            "https://auth0.com/docs/authenticate/login/logout/log-users-out-of-auth0",
            redirect_param="returnTo",
            standard=False,
            path_below_issuer="/v2/logout",
        ),
        # Cognito's hosted UI: https://{domain}/logout?client_id=&logout_uri=; the domain is not the
        # issuer, so end_session_endpoint must be set.
        Preset(
            "cognito",
            "https://docs.aws.amazon.com/cognito/latest/developerguide/logout-endpoint.html",
            redirect_param="logout_uri",
            standard=False,
        ),
        # Google publishes no end_session_endpoint: the app can only clear its own cookies
        # (and revoke tokens at the revocation_endpoint of its discovery document).
        Preset(
            "google",
            "https://developers.google.com/identity/openid-connect/openid-connect#discovery",
            local_only=True,
        ),
    )
}


def preset_logout_url(
    preset: Preset | None,
    endpoint: str,
    *,
    redirect_uri: str | None,
    id_token: str | None,
    state: str | None,
    client_id: str | None,
    ui_locales: str | None = None,
    extra_params: tuple[tuple[str, str], ...] = (),
) -> str:
    """Build the logout URL the way *preset*'s provider wants it (``None``: the standard way)."""
    if preset is None or preset.standard:
        return build_logout_url(
            endpoint,
            redirect_uri=redirect_uri,
            id_token=id_token,
            state=state,
            client_id=client_id,
            ui_locales=ui_locales,
            extra_params=extra_params,
        )
    # Auth0's /v2/logout and Cognito's /logout know neither id_token_hint nor state.
    redirect = ((preset.redirect_param, redirect_uri),) if redirect_uri is not None else ()
    return build_logout_url(endpoint, client_id=client_id, extra_params=(*redirect, *extra_params))
