"""The SendGrid v3 Mail Send double, exercised through the official `sendgrid` client."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest
from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment,
    Category,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    Mail,
    Personalization,
    SendAt,
    To,
)

from doubles.sendgrid_api import SendGridDouble


@pytest.fixture
def sendgrid_double():
    with SendGridDouble() as double:
        yield double


@pytest.fixture
def client(sendgrid_double):
    return SendGridAPIClient(api_key=sendgrid_double.api_key, host=sendgrid_double.url)


def reminder(to: str = "debtor@example.com", **extra) -> Mail:
    return Mail(from_email="ar@receivables.example", to_emails=to, subject="Invoice INV-1 is overdue",
                plain_text_content="Please pay invoice INV-1.", **extra)


def errors_of(raised: pytest.ExceptionInfo) -> list[dict]:
    return json.loads(raised.value.body)["errors"]


def fields_of(raised: pytest.ExceptionInfo) -> set[str]:
    return {error["field"] for error in errors_of(raised)}


def test_a_valid_mail_with_custom_args_and_a_category_is_accepted_with_a_message_id(client, sendgrid_double):
    message = reminder()
    message.custom_arg = CustomArg("action_key", "INV-1:email:L1:2024-05-02")
    message.category = Category("reminder_l1")

    response = client.send(message)

    assert response.status_code == 202
    assert response.body == b""
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22
    [record] = sendgrid_double.accepted
    assert record["message_id"] == message_id
    assert record["body"]["custom_args"] == {"action_key": "INV-1:email:L1:2024-05-02"}
    assert record["body"]["categories"] == ["reminder_l1"]
    assert record["headers"]["Authorization"] == "Bearer SG.test-key"
    assert sendgrid_double.recipients_sent() == ["debtor@example.com"]
    assert sendgrid_double.requests == 1


def build_personalized(count: int) -> Mail:
    message = Mail(from_email="ar@receivables.example", subject="Overdue invoices",
                   plain_text_content="Please pay.")
    for index in range(count):
        personalization = Personalization()
        personalization.add_to(To(f"debtor{index}@example.com"))
        message.add_personalization(personalization)
    return message


def test_a_request_with_1000_personalizations_is_accepted(client, sendgrid_double):
    response = client.send(build_personalized(1000))

    assert response.status_code == 202
    assert len(sendgrid_double.recipients_sent()) == 1000


def test_a_request_with_1001_personalizations_is_refused_naming_personalizations(client, sendgrid_double):
    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.send(build_personalized(1001))

    assert raised.value.status_code == 400
    assert "personalizations" in fields_of(raised)
    assert sendgrid_double.accepted == []


def test_a_recipient_repeated_across_personalizations_is_refused_naming_the_field(client, sendgrid_double):
    message = Mail(from_email="ar@receivables.example", subject="Overdue", plain_text_content="Please pay.")
    for address in ("a@example.com", "b@example.com", "A@Example.com"):
        personalization = Personalization()
        personalization.add_to(To(address))
        message.add_personalization(personalization)

    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.send(message)

    assert fields_of(raised) == {"personalizations.2.to.0.email"}
    assert sendgrid_double.accepted == []


@pytest.mark.parametrize("api_key", ["SG.wrong-key", ""])
def test_a_wrong_or_empty_api_key_raises_unauthorized(sendgrid_double, api_key):
    client = SendGridAPIClient(api_key=api_key, host=sendgrid_double.url)

    with pytest.raises(http_errors.UnauthorizedError) as raised:
        client.send(reminder())

    assert raised.value.status_code == 401
    assert errors_of(raised)[0]["message"]
    assert sendgrid_double.accepted == []


def test_a_request_without_an_authorization_header_is_refused_401(sendgrid_double):
    request = urllib.request.Request(f"{sendgrid_double.url}/v3/mail/send", data=json.dumps(reminder().get()).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)

    assert raised.value.code == 401
    assert "errors" in json.loads(raised.value.read())


def test_an_injected_429_raises_too_many_requests_with_the_reset_header_and_the_next_request_succeeds(
        client, sendgrid_double):
    sendgrid_double.fail_next(429, retry_after_reset=30)

    with pytest.raises(http_errors.TooManyRequestsError) as raised:
        client.send(reminder())

    headers = raised.value.headers
    assert int(headers["X-RateLimit-Reset"]) - time.time() == pytest.approx(30, abs=3)
    assert headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Limit"]) > 0
    assert client.send(reminder()).status_code == 202
    assert sendgrid_double.requests == 2
    assert len(sendgrid_double.accepted) == 1


def test_an_injected_500_raises_internal_server_error_and_503_service_unavailable(client, sendgrid_double):
    sendgrid_double.fail_next(500)
    sendgrid_double.fail_next(503)

    with pytest.raises(http_errors.InternalServerError):
        client.send(reminder())
    with pytest.raises(http_errors.ServiceUnavailableError):
        client.send(reminder())
    assert sendgrid_double.accepted == []


def test_a_stalled_answer_times_the_client_out_although_the_mail_was_accepted(client, sendgrid_double):
    sendgrid_double.stall_next(2.0)
    client.client.timeout = 0.5

    started = time.monotonic()
    with pytest.raises(TimeoutError):  # http.client's read timeout; urllib does not wrap it in URLError
        client.send(reminder())

    assert time.monotonic() - started < 1.5
    [record] = sendgrid_double.accepted  # the lost acknowledgement: SendGrid has the mail, the client never knew
    assert record["body"]["personalizations"][0]["to"] == [{"email": "debtor@example.com"}]


def test_a_stalled_answer_that_is_not_accepted_records_nothing(client, sendgrid_double):
    sendgrid_double.stall_next(0.3, then_accept=False)

    with pytest.raises(http_errors.ServiceUnavailableError):
        client.send(reminder())

    assert sendgrid_double.accepted == []


def test_custom_args_of_10000_bytes_are_refused_naming_custom_args(client):
    message = reminder()
    message.custom_arg = CustomArg("action_key", "x" * 10_000)

    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.send(message)

    assert fields_of(raised) == {"custom_args"}


def test_eleven_categories_are_refused_naming_categories(client):
    message = reminder()
    message.category = [Category(f"reminder_{index}") for index in range(11)]

    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.send(message)

    assert fields_of(raised) == {"categories"}


def test_a_category_longer_than_255_characters_is_refused_naming_it(client):
    message = reminder()
    message.category = [Category("ok"), Category("c" * 256)]

    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.send(message)

    long_index = message.get()["categories"].index("c" * 256)  # the helper inserts each category at index 0
    assert fields_of(raised) == {f"categories.{long_index}"}


def test_a_send_at_four_days_ahead_is_refused_and_one_day_ahead_accepted(client, sendgrid_double):
    message = reminder()
    message.send_at = SendAt(int(time.time()) + 4 * 24 * 3600)

    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.send(message)

    assert fields_of(raised) == {"send_at"}
    message.send_at = SendAt(int(time.time()) + 24 * 3600)
    assert client.send(message).status_code == 202


def test_an_attachment_with_invalid_base64_is_refused_naming_its_content(client, sendgrid_double):
    message = reminder()
    message.attachment = Attachment(FileContent(base64.b64encode(b"%PDF-1.7").decode()), FileName("ok.pdf"),
                                    FileType("application/pdf"), Disposition("attachment"))
    message.attachment = Attachment(FileContent("not base64!"), FileName("bad.pdf"), FileType("application/pdf"),
                                    Disposition("attachment"))

    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.send(message)

    bad_index = [item["filename"] for item in message.get()["attachments"]].index("bad.pdf")  # helper prepends
    assert fields_of(raised) == {f"attachments.{bad_index}.content"}
    assert sendgrid_double.accepted == []


def test_each_problem_of_an_invalid_body_is_listed_with_its_field(client):
    body = {
        "personalizations": [{"to": [{"email": "not-an-address", "name": "Doe, John"}]}, {"to": []}],
        "content": [{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": ""}],
        "custom_args": {"invoice_id": 42},
    }

    with pytest.raises(http_errors.BadRequestsError) as raised:
        client.client.mail.send.post(request_body=body)

    assert fields_of(raised) == {
        "personalizations.0.to.0.email", "personalizations.0.to.0.name", "personalizations.1.to",
        "from.email", "subject", "content", "content.1.value", "custom_args.invoice_id",
    }
    assert all(error["help"] is None and error["message"] for error in errors_of(raised))


def test_a_body_of_the_size_limit_is_refused_413(sendgrid_double):
    with SendGridDouble(max_body_bytes=2048) as small:
        client = SendGridAPIClient(api_key=small.api_key, host=small.url)
        message = reminder()
        message.attachment = Attachment(FileContent(base64.b64encode(b"x" * 4096).decode()), FileName("big.pdf"))

        with pytest.raises(http_errors.PayloadTooLargeError):
            client.send(message)
        assert small.accepted == []


def test_sandbox_mode_is_validated_answered_200_and_not_accepted(client, sendgrid_double):
    body = reminder().get()
    body["mail_settings"] = {"sandbox_mode": {"enable": True}}

    response = client.client.mail.send.post(request_body=body)

    assert response.status_code == 200
    assert sendgrid_double.accepted == []
    assert len(sendgrid_double.sandboxed) == 1


def test_other_paths_answer_404(client, sendgrid_double):
    with pytest.raises(http_errors.NotFoundError):
        client.client.mail.batch.post(request_body={})
    assert sendgrid_double.requests == 1
