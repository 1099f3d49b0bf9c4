"""Provider keys: encrypted at rest, never shown back, never logged, rotatable."""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connections

from accounts import crypto, services
from accounts.models import ProviderKey
from accounts.services import provider_credentials
from accounts.tests.conftest import new_ring
from billing.tiers import Tier, limits_for
from core.errors import QuotaExceeded

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/provider-keys"
# Shaped like nothing the log redactor knows, so only our code's discipline keeps it out of logs.
PLAIN_KEY = "zq7Wv9Kp2Lm4Nx8Rb3Tc6Yd1Hf5Gj0Qs"


def test_a_stored_key_is_encrypted_and_never_shown(auth_client, user, caplog, llm_upstream):
    # With the provider asked about the key (the fake server): its call logs no key either.
    with caplog.at_level(logging.DEBUG):
        put = auth_client.put(f"{URL}/openai", {"api_key": PLAIN_KEY}, format="json")
        listed = auth_client.get(URL)
        me = auth_client.get("/api/v1/auth/me")

    assert put.status_code == 200 and put.json().pop("verified") is True
    assert listed.json() == [{**put.json()}] and "verified" not in listed.json()[0]
    assert listed.json()[0]["last_four"] == PLAIN_KEY[-4:]
    for response in (put, listed, me):
        assert PLAIN_KEY not in response.content.decode()
    assert all(PLAIN_KEY not in record.getMessage() for record in caplog.records)
    assert PLAIN_KEY not in caplog.text
    stored = ProviderKey.objects.get(user=user)
    assert PLAIN_KEY not in stored.ciphertext
    assert provider_credentials(user=user, provider="openai").api_key == PLAIN_KEY


def test_credentials_never_print_the_key(user):
    from accounts.services import provider_key_set

    provider_key_set(user=user, provider="openai", api_key=PLAIN_KEY)

    credentials = provider_credentials(user=user, provider="openai")

    assert PLAIN_KEY not in repr(credentials) and PLAIN_KEY not in str(credentials)


def test_a_ciphertext_moved_to_another_user_does_not_decrypt(user, other_user):
    from accounts.services import provider_key_set

    provider_key_set(user=user, provider="openai", api_key=PLAIN_KEY)
    stolen = ProviderKey.objects.get(user=user).ciphertext
    ProviderKey.objects.create(
        user=other_user, provider="openai", ciphertext=stolen, last_four="xxxx"
    )

    with pytest.raises(crypto.DecryptionFailed):
        provider_credentials(user=other_user, provider="openai")


def test_replacing_and_deleting_a_key(auth_client, user):
    auth_client.put(f"{URL}/anthropic", {"api_key": PLAIN_KEY}, format="json")
    auth_client.put(f"{URL}/anthropic", {"api_key": "sk-ant-second-key-9999"}, format="json")

    assert ProviderKey.objects.filter(user=user).count() == 1
    assert provider_credentials(user=user, provider="anthropic").api_key.endswith("9999")
    assert auth_client.delete(f"{URL}/anthropic").status_code == 204
    assert auth_client.delete(f"{URL}/anthropic").status_code == 404
    assert auth_client.get(URL).json() == []


def test_a_free_user_may_store_one_provider_key(auth_client):
    auth_client.put(f"{URL}/openai", {"api_key": PLAIN_KEY}, format="json")

    second = auth_client.put(f"{URL}/xai", {"api_key": PLAIN_KEY}, format="json")

    assert second.status_code == 403
    assert second.json()["error"]["code"] == "QUOTA_EXCEEDED"
    assert second.json()["error"]["details"]["limit"] == 1


@pytest.mark.parametrize(
    ("url", "body", "status", "field"),
    [
        (f"{URL}/openai", {}, 400, "api_key"),
        (f"{URL}/openai", {"api_key": "has space in it"}, 400, "api_key"),
        (f"{URL}/custom", {"api_key": PLAIN_KEY}, 400, "base_url"),
        (f"{URL}/custom", {"api_key": PLAIN_KEY, "base_url": "not a url"}, 400, "base_url"),
        # Stored and listed as typed: a password in it would be shown in clear.
        (
            f"{URL}/custom",
            {"api_key": PLAIN_KEY, "base_url": "https://me:secret-pw@llm.example.com/v1"},
            400,
            "base_url",
        ),
        (f"{URL}/nosuchprovider", {"api_key": PLAIN_KEY}, 404, None),
    ],
)
def test_bad_provider_key_requests(auth_client, url, body, status, field):
    response = auth_client.put(url, body, format="json")

    assert response.status_code == status
    if field:
        assert field in response.json()["error"]["details"]


def test_rotation_moves_every_key_to_the_newest_and_old_ones_decrypt_before(
    user, other_user, key_ring
):
    from accounts.services import provider_key_set

    old, newest = new_ring("k1"), new_ring("k2")
    key_ring(old)
    provider_key_set(user=user, provider="openai", api_key=PLAIN_KEY)
    provider_key_set(user=other_user, provider="openai", api_key="other-users-key-1234")

    key_ring(f"{newest},{old}")
    assert provider_credentials(user=user, provider="openai").api_key == PLAIN_KEY
    assert ProviderKey.objects.filter(ciphertext__startswith="k1:").count() == 2

    call_command("rotate_encryption_key", verbosity=0)
    call_command("rotate_encryption_key", verbosity=0)

    assert ProviderKey.objects.filter(ciphertext__startswith="k2:").count() == 2
    key_ring(newest)
    assert provider_credentials(user=user, provider="openai").api_key == PLAIN_KEY
    assert provider_credentials(user=other_user, provider="openai").api_key.endswith("1234")


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:6390",
        "http://[::1]:8000/v1",
        "http://127.0.0.1:11434/v1",
        "http://0.0.0.0:8000/v1",
        "http://[::ffff:127.0.0.1]:8000/v1",
    ],
)
def test_a_base_url_on_the_servers_own_network_is_refused(auth_client, base_url):
    response = auth_client.put(
        f"{URL}/custom", {"api_key": PLAIN_KEY, "base_url": base_url}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "own network" in response.json()["error"]["details"]["base_url"][0]
    assert not ProviderKey.objects.exists()


def test_a_lan_base_url_is_allowed_and_a_local_one_when_the_operator_says_so(auth_client, settings):
    lan = auth_client.put(
        f"{URL}/custom",
        {"api_key": PLAIN_KEY, "base_url": "http://10.0.0.5:8000/v1"},
        format="json",
    )
    settings.LLM_ALLOW_LOCAL_BASE_URLS = True
    local = auth_client.put(
        f"{URL}/custom",
        {"api_key": PLAIN_KEY, "base_url": "http://localhost:8000/v1"},
        format="json",
    )

    assert (lan.status_code, local.status_code) == (200, 200)


@pytest.mark.django_db(transaction=True)
def test_keys_stored_at_once_for_several_providers_keep_to_the_plans_limit(user, monkeypatch):
    """Five providers' keys sent at the same moment by a plan that allows one: one is stored,
    the others are refused (unlocked, each counted before the others committed)."""
    user.tier = Tier.FREE
    user.save(update_fields=["tier"])
    assert limits_for(user).provider_keys == 1
    checked = services.allowance_required

    def checked_slowly(*args, **kwargs):
        # Holds the gap between counting and storing open long enough for the others to count.
        checked(*args, **kwargs)
        time.sleep(0.05)

    monkeypatch.setattr(services, "allowance_required", checked_slowly)
    together = threading.Barrier(5)

    def store(provider: str) -> str:
        together.wait()
        try:
            key = f"{provider}-{PLAIN_KEY}"
            services.provider_key_set(user=user, provider=provider, api_key=key)
            return "stored"
        except QuotaExceeded:
            return "refused"
        finally:
            connections.close_all()

    providers = ["openai", "anthropic", "google", "xai", "openrouter"]
    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = list(pool.map(store, providers))

    assert sorted(outcomes) == ["refused"] * 4 + ["stored"]
    assert ProviderKey.objects.filter(user=user).count() == 1
