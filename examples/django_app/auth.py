"""Users by their ``sub``: mozilla-django-oidc finds and makes them by email by default."""

from typing import Any

from mozilla_django_oidc.auth import OIDCAuthenticationBackend  # type: ignore[import-untyped]


class SubjectBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """One Django user per provider subject; the ``sub`` is stable, and every provider sends it."""

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(username=claims["sub"])

    def create_user(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.create_user(claims["sub"])
