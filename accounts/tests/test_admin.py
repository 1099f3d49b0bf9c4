"""The operator console's user pages: list, search, actions; keys shown as metadata only."""

import pytest

from accounts.models import ApiKey, User
from accounts.services import api_key_create, provider_key_set

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/accounts/user/"


def test_users_list_shows_tier_and_active_key_count(operator_client, user):
    api_key_create(user=user, name="a", scopes=["chat"])
    revoked, _ = api_key_create(user=user, name="b", scopes=["chat"])
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at="2026-01-01T00:00:00Z")

    response = operator_client.get(CHANGELIST, {"q": user.email})

    html = response.content.decode()
    assert response.status_code == 200
    assert user.email in html
    assert '<td class="field-api_key_count">1</td>' in html


def test_change_tier_and_deactivate_actions(operator_client, user):
    operator_client.post(CHANGELIST, {"action": "set_tier_pro", "_selected_action": [str(user.pk)]})
    operator_client.post(CHANGELIST, {"action": "deactivate", "_selected_action": [str(user.pk)]})

    user.refresh_from_db()
    assert user.tier == "pro"
    assert user.is_active is False


def test_user_page_never_shows_key_material(operator_client, user):
    _, secret = api_key_create(user=user, name="extension", scopes=["chat"])
    provider_key_set(user=user, provider="openai", api_key="zq7Wv9Kp2Lm4Nx8Rb3Tc6Yd1Hf5Gj0Qs")

    html = operator_client.get(f"{CHANGELIST}{user.pk}/change/").content.decode()

    assert "extension" in html
    assert secret not in html
    assert "zq7Wv9Kp2Lm4Nx8Rb3Tc6Yd1Hf5Gj0Qs" not in html
    assert User.objects.get(pk=user.pk).provider_keys.get().ciphertext not in html


def test_user_page_shows_sign_in_methods_and_second_factor_without_secrets(operator_client, user):
    from allauth.mfa.models import Authenticator
    from allauth.socialaccount.models import SocialAccount
    from django.utils import timezone

    # A provider this server's settings no longer name still shows, by its id.
    SocialAccount.objects.create(user=user, provider="google", uid="108234")
    totp = Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": "enc:JBSWY3DPEHPK3PXP"}
    )
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])

    html = operator_client.get(f"{CHANGELIST}{user.pk}/change/").content.decode()
    factor_page = operator_client.get(f"/admin/mfa/authenticator/{totp.pk}/change/")

    assert "password, google (linked " in html
    assert "TOTP Authenticator (since " in html
    assert f"{user.last_login:%Y}" in html
    assert "JBSWY3DPEHPK3PXP" not in html
    assert factor_page.status_code == 200
    assert "JBSWY3DPEHPK3PXP" not in factor_page.content.decode()


def test_client_secrets_have_no_place_in_the_console(operator_client):
    assert operator_client.get("/admin/socialaccount/socialapp/").status_code == 404
    assert operator_client.get("/admin/socialaccount/socialtoken/").status_code == 404
    assert operator_client.get("/admin/socialaccount/socialaccount/").status_code == 200
