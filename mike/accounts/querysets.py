"""The tenancy queryset every tenant model's manager builds on."""

from django.db import models


class TenantQuerySet(models.QuerySet):
    """Querysets of tenant data expose `for_user(user)`, the one scoping path for dashboards and APIs.

    Each tenant model names the lookup from itself to its client Organization in the class attribute
    `client_lookup` (e.g. "audience__client"). Staff and superusers see everything; everyone else
    sees the rows of the clients their roles reach (mike.accounts.services.accessible_client_ids).
    """

    def for_user(self, user):
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.is_staff:
            return self.all()
        from mike.accounts.services import accessible_client_ids

        return self.filter(**{f"{self.model.client_lookup}__in": accessible_client_ids(user)})

    def for_clients(self, client_ids):
        """The rows of these clients (an API key's reach: mike.api.auth.ApiPrincipal)."""
        return self.filter(**{f"{self.model.client_lookup}__in": client_ids})

    def for_client(self, client):
        return self.filter(**{self.model.client_lookup: client})
