from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from mike.accounts.models import (
    ApiKey,
    Invitation,
    Membership,
    Organization,
    OrganizationKind,
    Role,
    User,
    UserTablePreference,
)

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class AgencyFactory(DjangoModelFactory):
    class Meta:
        model = Organization

    kind = OrganizationKind.AGENCY
    name = factory.Sequence(lambda n: f"Agency {n}")
    slug = factory.Sequence(lambda n: f"agency-{n}")


class ClientFactory(DjangoModelFactory):
    class Meta:
        model = Organization

    kind = OrganizationKind.CLIENT
    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.Sequence(lambda n: f"client-{n}")
    parent = factory.SubFactory(AgencyFactory)


OrganizationFactory = ClientFactory


class MembershipFactory(DjangoModelFactory):
    """A bare Membership row; tests of permissions use services.grant_role instead."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(ClientFactory)
    role = Role.CLIENT_USER


class ApiKeyFactory(DjangoModelFactory):
    class Meta:
        model = ApiKey

    organization = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Key {n}")
    key_prefix = factory.Sequence(lambda n: f"{n:08x}")
    key_hash = factory.Sequence(lambda n: f"{n:064x}")
    scopes = factory.LazyFunction(lambda: ["read"])


class UserTablePreferenceFactory(DjangoModelFactory):
    class Meta:
        model = UserTablePreference

    user = factory.SubFactory(UserFactory)
    table_name = factory.Sequence(lambda n: f"table_{n}")
    visible_columns = factory.LazyFunction(lambda: ["name", "status"])


class InvitationFactory(DjangoModelFactory):
    """A pending invitation to a client; its link's token is unknown (tests that accept one use
    mike.accounts.invitations.invite, which returns it)."""

    class Meta:
        model = Invitation

    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    organization = factory.SubFactory(ClientFactory)
    role = Role.CLIENT_USER
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
