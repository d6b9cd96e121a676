"""The generators: the built-in page, and the OpenAI-compatible one against a local fake server
(a page, a 500, a slow answer past the timeout, garbage, and HTML with scripts to strip), with
the task's fallback to the built-in page; and the sanitiser's allow-list."""

import json
import time

import pytest
from werkzeug import Response

from campaigns.models import AiProvider, LandingPage, LandingPageGeneration
from mike.landing.cleaning import brand_palette, clean_html
from mike.landing.generators import DefaultGenerator, GeneratorFailed, OpenAICompatibleGenerator
from mike.landing.services import brief_for, queue_generation

pytestmark = pytest.mark.django_db

AI_PAGE = (
    '<section class="lp-hero"><h1>Hi {first_name}, your roof deserves a thank-you</h1>'
    "<p>Summit Roofing mailed you a card because you are a neighbour worth keeping.</p></section>"
    '<section class="lp-section"><h2>Your reward</h2>{offer}<p>Call {phone}.</p></section>'
)


def completion(content, tokens=321):
    return {
        "id": "chatcmpl-1",
        "model": "fake-model-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 200, "completion_tokens": 121, "total_tokens": tokens},
    }


@pytest.fixture
def ai(httpserver, settings):
    settings.LANDING_AI_BASE_URL = httpserver.url_for("/v1")
    settings.LANDING_AI_API_KEY = "sk-test"
    settings.LANDING_AI_MODEL = "fake-model-1"
    settings.LANDING_AI_TIMEOUT = 1.0
    return httpserver


def generate(page, captured):
    with captured(execute=True):
        queue_generation(page=page, use_ai=True, instructions="Friendly, short.")
    return LandingPage.objects.get(pk=page.pk)


def test_the_default_generator_is_deterministic_and_complete(offer_page):
    page, _ = offer_page
    first = DefaultGenerator().generate(brief_for(page))
    again = DefaultGenerator().generate(brief_for(page))
    assert first.html == again.html
    for placeholder in ("{first_name}", "{offer}", "{phone}"):
        assert placeholder in first.html
    assert "Call {phone} and talk with us for 1 minute or more." in first.html
    assert "Book an inspection" in first.html
    assert first.provider == AiProvider.TEMPLATE


def test_the_ai_page_is_stored_with_provider_model_and_tokens(
    ai, offer_page, django_capture_on_commit_callbacks
):
    page, _ = offer_page
    ai.expect_request("/v1/chat/completions", method="POST").respond_with_json(completion(AI_PAGE))
    page = generate(page, django_capture_on_commit_callbacks)
    assert page.generation_status == LandingPageGeneration.DONE
    assert page.ai_provider == AiProvider.OPENAI and page.ai_generated
    assert page.ai_model == "fake-model-1" and page.generation_tokens == 321
    assert "your roof deserves a thank-you" in page.html_content
    request, _ = ai.log[0]
    assert request.headers["Authorization"] == "Bearer sk-test"
    sent = json.loads(request.data)
    assert sent["model"] == "fake-model-1"
    assert "Summit Roofing" in sent["messages"][1]["content"]
    assert "Friendly, short." in sent["messages"][1]["content"]


def test_a_500_falls_back_to_the_built_in_page(ai, offer_page, django_capture_on_commit_callbacks):
    page, _ = offer_page
    ai.expect_request("/v1/chat/completions").respond_with_data("boom", status=500)
    page = generate(page, django_capture_on_commit_callbacks)
    assert page.generation_status == LandingPageGeneration.FELL_BACK
    assert page.generation_note == "The AI service answered 500."
    assert page.ai_provider == AiProvider.TEMPLATE and not page.ai_generated
    assert page.html_content == DefaultGenerator().generate(brief_for(page)).html


def test_a_slow_answer_times_out_and_falls_back(ai, offer_page, django_capture_on_commit_callbacks):
    page, _ = offer_page

    def slow(request):
        time.sleep(2.5)
        return Response(json.dumps(completion(AI_PAGE)), content_type="application/json")

    ai.expect_request("/v1/chat/completions").respond_with_handler(slow)
    started = time.monotonic()
    page = generate(page, django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 2.4
    assert page.generation_status == LandingPageGeneration.FELL_BACK
    assert "did not answer within 1 seconds" in page.generation_note
    assert "{offer}" in page.html_content


@pytest.mark.parametrize(
    "answer",
    [
        "not json at all",
        json.dumps({"choices": []}),
        json.dumps(completion("Sure! Here is your page.")),
        json.dumps(
            completion("<h1>Hello</h1><p>A page that forgets to show any reward at all.</p>")
        ),
        json.dumps(completion(None)),
    ],
)
def test_garbage_falls_back(ai, offer_page, django_capture_on_commit_callbacks, answer):
    page, _ = offer_page
    ai.expect_request("/v1/chat/completions").respond_with_data(answer, status=200)
    page = generate(page, django_capture_on_commit_callbacks)
    assert page.generation_status == LandingPageGeneration.FELL_BACK
    assert page.ai_provider == AiProvider.TEMPLATE


def test_scripts_handlers_and_javascript_links_are_stripped_from_an_ai_page(
    ai, offer_page, django_capture_on_commit_callbacks, client
):
    page, recipient = offer_page
    hostile = (
        "```html\n"
        + AI_PAGE
        + '<script>alert("x")</script><img src="x" onerror="alert(1)">'
        + '<a href="javascript:alert(2)">win</a><p style="color:red" onclick="steal()">Hi</p>'
        + '<iframe src="https://evil.test"></iframe><style>body{display:none}</style>\n```'
    )
    ai.expect_request("/v1/chat/completions").respond_with_json(completion(hostile))
    page = generate(page, django_capture_on_commit_callbacks)
    assert page.generation_status == LandingPageGeneration.DONE
    stored = page.html_content
    for bad in (
        "<script",
        "onerror",
        "javascript:",
        "style=",
        "onclick",
        "<iframe",
        "<style",
        "```",
    ):
        assert bad not in stored
    assert '<img src="x">' in stored and '<a rel="noopener noreferrer">win</a>' in stored
    shown = client.get(f"/p/{page.slug}/{recipient.token}/").content.decode()
    assert "alert(" not in shown and "steal()" not in shown


def test_without_a_configured_service_the_generator_refuses(settings):
    settings.LANDING_AI_BASE_URL = ""
    with pytest.raises(GeneratorFailed):
        OpenAICompatibleGenerator()


def test_the_sanitiser_keeps_the_allow_list_only():
    dirty = (
        '<h2 class="lp-x" id="a" style="x">T</h2><svg onload="x()"><circle/></svg>'
        '<a href="tel:+18005550101" onmouseover="x()">c</a><a href="data:text/html,x">d</a>'
        "<form action=/x><input name=a></form><!-- note --><object data=x></object>"
    )
    assert clean_html(dirty) == (
        '<h2 class="lp-x">T</h2>'
        '<a href="tel:+18005550101" rel="noopener noreferrer">c</a>'
        '<a rel="noopener noreferrer">d</a>'
    )


def test_placeholders_are_filled_with_escaping(client, offer_page):
    page, recipient = offer_page
    recipient.first_name = '<img src=x onerror=alert(1)>"'
    recipient.save()
    body = client.get(f"/p/{page.slug}/{recipient.token}/").content.decode()
    assert "<img src=x onerror" not in body
    assert 'Hi &lt;img src=x onerror=alert(1)&gt;",' in body


def test_brand_colours_must_be_hex():
    assert brand_palette({"primary": "#FFF"}) == {"primary": "#ffffff", "on_primary": "#111827"}
    assert brand_palette({"primary": "#0f5c8c"})["on_primary"] == "#ffffff"
    assert brand_palette({"primary": "url(x)"})["primary"] == "#2457d6"
    assert brand_palette(None)["primary"] == "#2457d6"
