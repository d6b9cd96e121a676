"""Files the dashboards hand out beside their tables: an audience's mail file, streamed.

The mail file carries every recipient's redemption code in full (it is what gets printed), so
it goes to the people who run the client's mailings, those who may change the client (its
admins, its agency's admins, staff), and not to read-only users; an audience outside the user's
reach is not found.
"""

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from recipients.exports import mail_file_csv
from recipients.models import Audience

from ..access import dashboard_view


@require_safe
@dashboard_view(section="recipients")
def audience_mail_file(request, audience_id):
    audience = get_object_or_404(
        request.scope.filter(Audience.objects).select_related("client"), pk=audience_id
    )
    request.scope.require_manage(audience.client)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = slugify(audience.name) or "audience"
    response = StreamingHttpResponse(
        mail_file_csv(audience), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="mail-file-{name}-{stamp}.csv"'
    # Full redemption codes: neither the browser nor a proxy keeps a copy.
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [
    path(
        "audiences/<uuid:audience_id>/mail-file.csv",
        audience_mail_file,
        name="audience_mail_file",
    ),
]
