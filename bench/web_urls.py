"""Mike's URLs plus `/bench/lookup/`: the baseline of the web benchmark, a Django view that does
one indexed lookup (a recipient by redemption code) and answers a few bytes."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from mike.urls import urlpatterns as mike_urlpatterns
from recipients.models import Recipient


@csrf_exempt
def lookup(request):
    code = request.POST.get("code", "") or request.GET.get("code", "")
    found = Recipient.objects.filter(redemption_code=code).values_list("pk", flat=True).first()
    return HttpResponse("found" if found else "none")


urlpatterns = [path("bench/lookup/", lookup), *mike_urlpatterns]
