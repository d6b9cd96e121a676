"""The public ACE form at /f/<slug>/: validation, matching, spam checks, the condition met once,
and the reward revealed truthfully."""

import time

import pytest

from calls.models import CallConditionMet
from campaigns.models import AceForm, AceFormSubmission, Event, EventType
from giftcards.models import RecipientGiftCard
from mike.aceforms.fields import HONEYPOT, STARTED, TOKEN, sign_start
from tests import factories

URL = "/f/book-now/"


def post(client, data, url=URL, started=None, **extra):
    body = {STARTED: sign_start(started), **data}
    return client.post(url, body, **extra)


GOOD = {"first_name": "Pat", "email": "pat@example.com", "phone": "(555) 201-0001"}


def test_a_draft_or_inactive_form_is_not_found(client, ace_form):
    AceForm.objects.filter(pk=ace_form.pk).update(is_draft=True)
    assert client.get(URL).status_code == 404
    AceForm.objects.filter(pk=ace_form.pk).update(is_draft=False, is_active=False)
    assert client.get(URL).status_code == 404
    assert client.get(URL + "embed/").status_code == 404


def test_the_page_shows_the_fields_and_counts_the_view(client, ace_form):
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="first_name"' in page and 'type="email"' in page and 'type="tel"' in page
    assert HONEYPOT in page and STARTED in page
    ace_form.refresh_from_db()
    assert ace_form.total_views == 1


def test_each_bad_field_gets_one_clear_message_and_nothing_is_stored(client, ace_form):
    response = post(client, {"first_name": "", "email": "not-an-email", "phone": "12"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Please fill in first name." in page
    assert "Enter an email address, like name@example.com." in page
    assert "Enter a phone number with its area code" in page
    assert not AceFormSubmission.objects.exists()


def test_a_good_submission_is_stored_with_the_phone_in_e164(client, ace_form):
    response = post(client, GOOD, HTTP_USER_AGENT="Test browser", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert ace_form.success_message in response.content.decode()
    submission = AceFormSubmission.objects.get()
    assert submission.submission_data["phone"] == "+15552010001"
    assert submission.recipient is None
    assert submission.user_agent == "Test browser"
    assert submission.ip_address == "203.0.113.9"
    ace_form.refresh_from_db()
    assert ace_form.total_submissions == 1
    assert Event.objects.filter(event_type=EventType.FORM_SUBMITTED).count() == 1


def test_the_token_prefills_and_matches_and_meets_the_condition(
    client, ace_form, condition, recipient
):
    page = client.get(URL, {"t": recipient.token}).content.decode()
    assert recipient.display_code in page and recipient.first_name in page
    response = post(client, {**GOOD, TOKEN: recipient.token})
    assert response.status_code == 200
    assert AceFormSubmission.objects.get().recipient == recipient
    met = CallConditionMet.objects.get()
    assert met.recipient == recipient and met.condition == condition
    reward = RecipientGiftCard.objects.get(recipient=recipient)
    # Revealed as it stands: no card yet, so no code; the recipient is not approved yet.
    text = response.content.decode()
    assert "under review" in text
    assert reward.brand.brand_name in text


def test_a_typed_code_matches_the_recipient(client, ace_form, condition, recipient):
    post(client, {**GOOD, "code": recipient.display_code.lower()})
    assert AceFormSubmission.objects.get().recipient == recipient
    assert CallConditionMet.objects.filter(recipient=recipient).count() == 1


def test_a_second_submission_does_not_meet_the_condition_again(
    client, ace_form, condition, recipient
):
    post(client, {**GOOD, TOKEN: recipient.token})
    post(client, {**GOOD, TOKEN: recipient.token})
    assert AceFormSubmission.objects.count() == 2
    assert CallConditionMet.objects.count() == 1
    assert RecipientGiftCard.objects.count() == 1


def test_a_code_of_another_client_is_not_found(client, ace_form, condition):
    stranger = factories.RecipientFactory(campaign=factories.CampaignFactory())
    response = post(client, {**GOOD, "code": stranger.display_code})
    assert response.status_code == 400
    assert "find that code" in response.content.decode()
    assert not AceFormSubmission.objects.exists()
    # A foreign token matches nobody: the page is the anonymous one.
    page = client.get(URL, {"t": stranger.token}).content.decode()
    assert stranger.display_code not in page


def test_the_honeypot_refuses_in_plain_words_and_stores_nothing(client, ace_form):
    response = post(client, {**GOOD, HONEYPOT: "http://spam.example"})
    assert response.status_code == 400
    assert "looked automated" in response.content.decode()
    assert not AceFormSubmission.objects.exists()


def test_a_form_sent_too_fast_is_refused(client, ace_form, settings):
    settings.FORM_MIN_FILL_SECONDS = 3
    response = post(client, GOOD, started=time.time())
    assert response.status_code == 400
    assert "faster than a person" in response.content.decode()
    assert not AceFormSubmission.objects.exists()
    response = post(client, GOOD, started=time.time() - 4)
    assert response.status_code == 200
    assert AceFormSubmission.objects.count() == 1


def test_a_forged_start_time_is_refused(client, ace_form):
    response = client.post(URL, {**GOOD, STARTED: "12345"})
    assert response.status_code == 400
    assert "could not be checked" in response.content.decode()
    assert not AceFormSubmission.objects.exists()


def test_the_rate_limit_per_address_refuses_with_a_reason(client, ace_form, settings):
    settings.FORM_SUBMIT_RATE = "2/m"
    assert post(client, GOOD).status_code == 200
    assert post(client, GOOD).status_code == 200
    response = post(client, GOOD)
    assert response.status_code == 429
    assert "too many times" in response.content.decode()
    assert AceFormSubmission.objects.count() == 2
    # Another address has its own window.
    assert post(client, GOOD, REMOTE_ADDR="198.51.100.4").status_code == 200


def test_only_the_embed_page_may_be_framed(client, ace_form):
    page = client.get(URL)
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    embed = client.get(URL + "embed/")
    assert "X-Frame-Options" not in embed
    assert "frame-ancestors 'self' https:" in embed["Content-Security-Policy"]


def test_the_embedded_form_submits_with_the_token(client, ace_form, condition, recipient):
    response = post(client, {**GOOD, TOKEN: recipient.token}, url=URL + "embed/?t=x")
    assert response.status_code == 200
    assert CallConditionMet.objects.filter(recipient=recipient).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_meet_the_condition_once(ace_form, condition, recipient):
    from mike.rewards.forms import submit_form
    from tests.rewards.concurrency import in_thread

    def submit():
        fresh = type(recipient).objects.select_related("audience", "campaign").get(pk=recipient.pk)
        return submit_form(form=ace_form, values=GOOD, recipient=fresh)

    runs = [in_thread(submit) for _ in range(2)]
    for run in runs:
        run.join()
    assert [run.errors for run in runs] == [[], []]
    assert AceFormSubmission.objects.count() == 2
    assert CallConditionMet.objects.filter(recipient=recipient, condition=condition).count() == 1
    assert RecipientGiftCard.objects.filter(recipient=recipient).count() == 1
    ace_form.refresh_from_db()
    assert ace_form.total_submissions == 2
