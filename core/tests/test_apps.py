"""The line a server start prints names where its mail goes."""

from core.apps import describe_stack


def test_the_stack_line_says_mail_is_printed_without_email_url(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

    assert describe_stack().endswith("; mail: printed here (set EMAIL_URL to send it)")


def test_the_stack_line_names_the_smtp_server_and_no_credentials(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "smtp.example.com", 587
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "mailer", "s3cret-pass"

    line = describe_stack()

    assert line.endswith("; mail: SMTP at smtp.example.com:587")
    assert "mailer" not in line and "s3cret-pass" not in line
