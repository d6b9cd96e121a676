"""Two tenants and a person of every role, for the dashboard tests.

`tenants` builds agency A with clients A1 and A2, and agency B with client B1; `people` gives each
a user of each role (created through grant_role, as the product does). Tests sign in with
`client.force_login(people.client_admin)` or `login_as(client, user)`.
"""

from dataclasses import dataclass

import pytest

from mike.accounts.models import Organization, Role, User
from mike.accounts.services import grant_role
from tests import factories


@dataclass
class Tenants:
    agency_a: Organization
    client_a: Organization
    client_a2: Organization
    agency_b: Organization
    client_b: Organization


@dataclass
class People:
    staff: User
    agency_admin: User
    agency_user: User
    client_admin: User
    client_user: User
    agent: User
    other_client_admin: User  # client admin of client B
    other_client_user: User  # client user of client B


@pytest.fixture
def tenants(db) -> Tenants:
    agency_a = factories.AgencyFactory(name="Agency A")
    agency_b = factories.AgencyFactory(name="Agency B")
    return Tenants(
        agency_a=agency_a,
        client_a=factories.ClientFactory(name="Client A", parent=agency_a),
        client_a2=factories.ClientFactory(name="Client A2", parent=agency_a),
        agency_b=agency_b,
        client_b=factories.ClientFactory(name="Client B", parent=agency_b),
    )


def _person(email, role, organization=None, **extra) -> User:
    user = factories.UserFactory(email=email, **extra)
    if role is not None:
        grant_role(user=user, role=role, organization=organization)
    return user


@pytest.fixture
def people(tenants) -> People:
    return People(
        staff=_person("staff@mike.test", None, is_staff=True),
        agency_admin=_person("agency.admin@a.test", Role.AGENCY_ADMIN, tenants.agency_a),
        agency_user=_person("agency.user@a.test", Role.AGENCY_USER, tenants.agency_a),
        client_admin=_person("client.admin@a.test", Role.CLIENT_ADMIN, tenants.client_a),
        client_user=_person("client.user@a.test", Role.CLIENT_USER, tenants.client_a),
        agent=_person("agent@a.test", Role.CALL_CENTER_AGENT, tenants.client_a),
        other_client_admin=_person("client.admin@b.test", Role.CLIENT_ADMIN, tenants.client_b),
        other_client_user=_person("client.user@b.test", Role.CLIENT_USER, tenants.client_b),
    )


@pytest.fixture
def login_as(client):
    """Sign `user` in and select `select` (a client, or "all") as the header's switcher would."""

    def login(user, select=None):
        client.force_login(user)
        if select is not None:
            session = client.session
            session["dashboard_client"] = "all" if select == "all" else str(select.pk)
            session.save()
        return client

    return login
