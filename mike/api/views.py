"""The JSON API's endpoints: thin views over the services, scoped to the key's clients.

Each queryset starts from `for_clients(principal.client_ids)` and, for recipients and what hangs
off them, from the key's kind of data (a test key sees test data, a live key live data), so
another tenant's object and the other kind's are the same 404.
"""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from giftcards.models import GiftCardDelivery, RecipientGiftCard
from mike.accounts.models import Organization
from mike.rewards.conditions import mark_condition_met_by_api
from mike.rewards.inbound import simulate_reply
from mike.webhooks.models import WebhookSubscription
from mike.webhooks.services import (
    SubscriptionInvalid,
    create_subscription,
    delete_subscription,
    update_subscription,
)
from recipients.codes import normalize_code
from recipients.models import Audience, AudienceSource, Recipient
from recipients.selectors import mailing_campaign_id
from recipients.services.audiences import AudienceInvalid, create_audience
from recipients.services.push import push_recipients

from . import serializers as api
from .auth import HasKeyScope, KnownQueryParameters, TestKeyOnly
from .errors import Conflict
from .filters import CampaignFilter, DeliveryFilter, RecipientFilter, RewardFilter
from .idempotency import KEY_PATTERN, MAX_KEY_LENGTH, idempotent
from .pagination import ApiCursorPagination, TimeOrderedPagination
from .selectors import campaign_funnel

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": KEY_PATTERN, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): a repeat of the request with the same key is "
    "answered with the first answer and does nothing again. Kept for 24 hours.",
)


def principal(request):
    return request.user


def campaigns_of(request):
    return Campaign.objects.for_clients(principal(request).client_ids)


def audiences_of(request):
    return Audience.objects.for_clients(principal(request).client_ids).filter(
        is_test=principal(request).is_test
    )


def recipients_of(request):
    return Recipient.objects.for_clients(principal(request).client_ids).filter(
        is_test=principal(request).is_test
    )


class KeyScoped:
    """A list or detail view over what the key may see: its queryset is `scope(request)`, one of
    the functions above (the key's clients, and for recipients and what hangs off them the key's
    kind of data), so every view of a kind scopes alike and another tenant's row is a 404. The
    class's own `queryset` stays an empty one of the model: it is what the schema reads."""

    scope = None  # staticmethod(a function of the request returning the key's rows)

    def get_queryset(self):
        return self.scope(self.request)


# --- Campaigns ---------------------------------------------------------------------------------


class CampaignList(KeyScoped, generics.ListAPIView):
    """The campaigns of the key's clients, newest first."""

    queryset = Campaign.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.CampaignSerializer
    pagination_class = ApiCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = CampaignFilter

    scope = staticmethod(campaigns_of)


class CampaignDetail(KeyScoped, generics.RetrieveAPIView):
    """One campaign, with its conditions (in order) and its funnel's counts."""

    queryset = Campaign.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.CampaignDetailSerializer

    scope = staticmethod(campaigns_of)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "pk" in self.kwargs and getattr(self, "_campaign", None) is not None:
            context["funnel"] = campaign_funnel(
                campaign=self._campaign, is_test=principal(self.request).is_test
            )
        return context

    def get_object(self):
        self._campaign = super().get_object()
        return self._campaign


# --- Audiences ---------------------------------------------------------------------------------


class AudienceList(KeyScoped, generics.ListAPIView):
    """Audiences of the key's clients (a test key's own test audiences), newest first."""

    queryset = Audience.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.AudienceSerializer
    pagination_class = ApiCursorPagination

    scope = staticmethod(audiences_of)

    def get_queryset(self):
        return super().get_queryset().prefetch_related("campaigns")

    @extend_schema(
        request=api.AudienceCreateSerializer,
        responses={201: api.AudienceSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def post(self, request):
        """Create an empty audience to push recipients into. A test key's audiences are test
        data: only test keys see them, and their recipients are never rewarded for real."""
        data = api.AudienceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client = _client_for(request, data.validated_data.get("client"))
        try:
            audience = create_audience(
                client=client,
                name=data.validated_data["name"],
                by=None,
                source=AudienceSource.API,
                is_test=principal(request).is_test,
            )
        except AudienceInvalid as error:
            raise serializers.ValidationError({"name": [str(error)]}) from None
        return Response(api.AudienceSerializer(audience).data, status=status.HTTP_201_CREATED)


def _client_for(request, client_id):
    """The client an object is created for: the key's own client, or with an agency's key the
    client named (one of the agency's)."""
    ids = principal(request).client_ids
    if client_id is None:
        if len(ids) == 1 and principal(request).organization.is_client:
            return principal(request).organization
        raise serializers.ValidationError({"client": ["Name the client (an agency's key)."]})
    if client_id not in ids:
        raise serializers.ValidationError({"client": ["No such client for this API key."]})
    return Organization.objects.get(pk=client_id)


class AudienceDetail(KeyScoped, generics.RetrieveAPIView):
    queryset = Audience.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.AudienceSerializer

    scope = staticmethod(audiences_of)


class AudienceRecipients(APIView):
    @extend_schema(
        request=api.RecipientPushSerializer,
        responses={200: api.PushResultSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def post(self, request, pk):
        """Push up to 1,000 recipients into the audience. Each row is checked as a CSV import's
        row is (phone, email, ZIP, codes) and answered in order: `created`, `existing` (its
        external id is already in the audience: nothing changes, so a retried batch never
        creates anybody twice) or `error` with a message per field. Good rows are kept even
        when others are refused."""
        audience = get_object_or_404(audiences_of(request), pk=pk)
        data = api.RecipientPushSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = _campaign_for(request, audience, data.validated_data.get("campaign"))
        rows, shape_errors = [], {}
        for index, row in enumerate(data.validated_data["recipients"]):
            checked = api.RecipientRowSerializer(data=row)
            if checked.is_valid():
                rows.append(checked.validated_data)
            else:
                rows.append(None)
                shape_errors[index] = checked.errors
        pushed = push_recipients(
            audience=audience,
            rows=[row or {} for row in rows],
            campaign=campaign,
        )
        results = []
        for result in pushed:
            if result.index in shape_errors:
                results.append(
                    {
                        "index": result.index,
                        "status": "error",
                        "errors": api_errors(shape_errors[result.index]),
                    }
                )
                continue
            entry = {"index": result.index, "status": result.status}
            if result.recipient is not None:
                entry.update(
                    id=result.recipient.pk,
                    external_id=str(result.recipient.custom_fields.get("external_id", "")),
                    redemption_code=result.recipient.display_code,
                )
            else:
                entry["errors"] = result.errors
            results.append(entry)
        body = {
            "created": sum(1 for r in results if r["status"] == "created"),
            "existing": sum(1 for r in results if r["status"] == "existing"),
            "errors": sum(1 for r in results if r["status"] == "error"),
            "results": results,
        }
        return Response(api.PushResultSerializer(body).data)


def api_errors(errors) -> dict:
    return {str(key): [str(message) for message in value] for key, value in errors.items()}


def _campaign_for(request, audience, campaign_id):
    if campaign_id is not None:
        campaign = campaigns_of(request).filter(pk=campaign_id, client=audience.client).first()
        if campaign is None:
            raise serializers.ValidationError(
                {"campaign": ["No such campaign of the audience's client for this API key."]}
            )
        return campaign
    # The campaign mailing the audience, else its only campaign (one still being set up).
    mailing = mailing_campaign_id(audience.pk)
    if mailing is not None:
        return campaigns_of(request).filter(pk=mailing).first()
    campaigns = list(audience.campaigns.all()[:2])
    return campaigns[0] if len(campaigns) == 1 else None


# --- Recipients --------------------------------------------------------------------------------


class RecipientList(KeyScoped, generics.ListAPIView):
    """Recipients of the key's clients, newest first, with filters."""

    queryset = Recipient.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.RecipientSerializer
    pagination_class = TimeOrderedPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = RecipientFilter

    scope = staticmethod(recipients_of)


class RecipientDetail(KeyScoped, generics.RetrieveAPIView):
    """One recipient with its approval, opt-in, conditions met and rewards (with delivery)."""

    queryset = Recipient.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.RecipientDetailSerializer

    scope = staticmethod(recipients_of)


class RecipientLookup(APIView):
    query_serializer_class = api.RecipientLookupQuerySerializer

    @extend_schema(
        parameters=[api.RecipientLookupQuerySerializer],
        responses={200: api.RecipientDetailSerializer},
    )
    def get(self, request):
        """One recipient by external id (within an audience when it is in several) or by the
        redemption code printed on their mail."""
        query = self.query_serializer_class(data=request.query_params)
        query.is_valid(raise_exception=True)
        recipients = recipients_of(request)
        given = query.validated_data
        if given.get("redemption_code"):
            recipients = recipients.filter(redemption_code=normalize_code(given["redemption_code"]))
        else:
            recipients = recipients.filter(custom_fields__external_id=given["external_id"])
            if given.get("audience"):
                recipients = recipients.filter(audience_id=given["audience"])
        found = list(recipients[:2])
        if not found:
            return Response(
                {"error": {"type": "not_found", "message": "No such recipient for this API key."}},
                status=404,
            )
        if len(found) > 1:
            raise Conflict("That external id is in several audiences: add ?audience=<id>.")
        return Response(api.RecipientDetailSerializer(found[0]).data)


class RecipientConditions(APIView):
    @extend_schema(
        request=api.ConditionMetInputSerializer,
        responses={200: api.ConditionMetSerializer, 201: api.ConditionMetSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def post(self, request, pk):
        """Mark a condition of the recipient's campaign met, for a system that knows it happened
        (a call, an appointment). Conditions are met in order; meeting one twice is answered
        200 with the first record and does nothing more. What follows (approval, the opt-in
        text, the card) is the reward pipeline's, as when an agent marks it."""
        recipient = get_object_or_404(recipients_of(request).select_related("campaign"), pk=pk)
        data = api.ConditionMetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        met, created = mark_condition_met_by_api(
            recipient=recipient,
            condition_number=data.validated_data["condition_number"],
            notes=data.validated_data.get("notes", ""),
        )
        reward = (
            RecipientGiftCard.objects.filter(recipient=recipient, condition_id=met.condition_id)
            .values_list("pk", flat=True)
            .first()
        )
        body = {
            "recipient": recipient.pk,
            "condition_number": met.condition_number,
            "created": created,
            "met_at": met.created_at,
            "reward": reward,
        }
        return Response(
            api.ConditionMetSerializer(body).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RecipientSimulateReply(APIView):
    permission_classes = [HasKeyScope, KnownQueryParameters, TestKeyOnly]

    @extend_schema(
        request=api.SimulateReplySerializer,
        responses={200: api.SimulateReplyResultSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Sandbox only (a test key; a live key gets 403): act on a text as if the "
        "test recipient had replied it (YES opts in and their rewards get sandbox cards, STOP "
        "opts out, HELP, START …), through the same path as a real reply, without Twilio. "
        "Answers the reply Mike would have texted and the recipient's new status.",
    )
    @idempotent
    def post(self, request, pk):
        """Simulate the test recipient's reply to the opt-in text (the sandbox)."""
        recipient = get_object_or_404(recipients_of(request), pk=pk)
        data = api.SimulateReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reply = simulate_reply(recipient=recipient, body=data.validated_data["body"])
        recipient = Recipient.objects.get(pk=recipient.pk)
        return Response(
            api.SimulateReplyResultSerializer({"reply": reply, "recipient": recipient}).data
        )


# --- Rewards and deliveries --------------------------------------------------------------------


def rewards_of(request):
    return (
        RecipientGiftCard.objects.for_clients(principal(request).client_ids)
        .filter(recipient__is_test=principal(request).is_test)
        .select_related("condition", "brand", "gift_card")
    )


def deliveries_of(request):
    return GiftCardDelivery.objects.for_clients(principal(request).client_ids).filter(
        recipient__is_test=principal(request).is_test
    )


class RewardList(KeyScoped, generics.ListAPIView):
    """Rewards (one per recipient and condition met), newest first. Card codes are masked."""

    queryset = RecipientGiftCard.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.RewardSerializer
    pagination_class = TimeOrderedPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = RewardFilter

    scope = staticmethod(rewards_of)


class RewardDetail(KeyScoped, generics.RetrieveAPIView):
    queryset = RecipientGiftCard.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.RewardSerializer

    scope = staticmethod(rewards_of)


class DeliveryList(KeyScoped, generics.ListAPIView):
    """Deliveries of cards (each text or email of a card), newest first."""

    queryset = GiftCardDelivery.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.DeliverySerializer
    pagination_class = TimeOrderedPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeliveryFilter

    scope = staticmethod(deliveries_of)


class DeliveryDetail(KeyScoped, generics.RetrieveAPIView):
    queryset = GiftCardDelivery.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.DeliverySerializer

    scope = staticmethod(deliveries_of)


# --- Webhook subscriptions ---------------------------------------------------------------------


def webhooks_of(request):
    """The key's clients' subscriptions of the key's kind: a test key manages test
    subscriptions (which receive test data's events), a live key live ones."""
    return WebhookSubscription.objects.for_clients(principal(request).client_ids).filter(
        is_test=principal(request).is_test
    )


def _subscription_refused(error: SubscriptionInvalid):
    return serializers.ValidationError(error.errors)


class WebhookList(KeyScoped, generics.ListAPIView):
    """The webhook subscriptions of the key's clients, newest first."""

    queryset = WebhookSubscription.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.WebhookSubscriptionSerializer
    pagination_class = ApiCursorPagination

    scope = staticmethod(webhooks_of)

    @extend_schema(
        request=api.WebhookSubscriptionCreateSerializer,
        responses={201: api.WebhookSubscriptionCreatedSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def post(self, request):
        """Subscribe a URL to events. The answer holds the signing secret, the only time the
        API shows it (a client admin can see it again in the dashboard). A test key's
        subscriptions receive the events of test data only."""
        data = api.WebhookSubscriptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client = _client_for(request, data.validated_data.get("client"))
        try:
            subscription, secret = create_subscription(
                client=client,
                url=data.validated_data["url"],
                events=data.validated_data["events"],
                description=data.validated_data.get("description", ""),
                api_key=request.auth,
                is_test=principal(request).is_test,
            )
        except SubscriptionInvalid as error:
            raise _subscription_refused(error) from None
        body = api.WebhookSubscriptionSerializer(subscription).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)


class WebhookDetail(KeyScoped, generics.RetrieveAPIView):
    """One webhook subscription (without its secret)."""

    queryset = WebhookSubscription.objects.none()  # the schema's; requests use get_queryset
    serializer_class = api.WebhookSubscriptionSerializer

    scope = staticmethod(webhooks_of)

    @extend_schema(
        request=api.WebhookSubscriptionUpdateSerializer,
        responses={200: api.WebhookSubscriptionSerializer},
    )
    def patch(self, request, pk):
        """Change the URL, the events, the description, or switch it on or off. Switching a
        subscription Mike disabled on again clears its failure count."""
        subscription = self.get_object()
        data = api.WebhookSubscriptionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            subscription = update_subscription(subscription=subscription, **data.validated_data)
        except SubscriptionInvalid as error:
            raise _subscription_refused(error) from None
        return Response(api.WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        """Delete the subscription: nothing more is sent to it."""
        delete_subscription(subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
