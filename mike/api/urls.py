from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views
from .errors import not_found

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("campaigns/", views.CampaignList.as_view(), name="campaigns"),
    path("campaigns/<uuid:pk>/", views.CampaignDetail.as_view(), name="campaign"),
    path("audiences/", views.AudienceList.as_view(), name="audiences"),
    path("audiences/<uuid:pk>/", views.AudienceDetail.as_view(), name="audience"),
    path(
        "audiences/<uuid:pk>/recipients/",
        views.AudienceRecipients.as_view(),
        name="audience_recipients",
    ),
    path("recipients/", views.RecipientList.as_view(), name="recipients"),
    path("recipients/lookup/", views.RecipientLookup.as_view(), name="recipient_lookup"),
    path("recipients/<uuid:pk>/", views.RecipientDetail.as_view(), name="recipient"),
    path(
        "recipients/<uuid:pk>/conditions/",
        views.RecipientConditions.as_view(),
        name="recipient_conditions",
    ),
    path(
        "recipients/<uuid:pk>/simulate-reply/",
        views.RecipientSimulateReply.as_view(),
        name="recipient_simulate_reply",
    ),
    path("rewards/", views.RewardList.as_view(), name="rewards"),
    path("rewards/<uuid:pk>/", views.RewardDetail.as_view(), name="reward"),
    path("deliveries/", views.DeliveryList.as_view(), name="deliveries"),
    path("deliveries/<uuid:pk>/", views.DeliveryDetail.as_view(), name="delivery"),
    path("webhooks/", views.WebhookList.as_view(), name="webhooks"),
    path("webhooks/<uuid:pk>/", views.WebhookDetail.as_view(), name="webhook"),
    # [\s\S], not ".": a path with a newline in it is still an API path.
    re_path(r"^[\s\S]*$", not_found),
]
