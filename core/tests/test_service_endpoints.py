"""Health, readiness, version, schema, docs and admin answer as operators expect."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_liveness_touches_nothing(client, django_assert_num_queries, settings):
    with django_assert_num_queries(0):
        response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": settings.ENGRAM_VERSION}


def test_readiness_reports_each_check(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    assert body["checks"]["database"]["latency_ms"] >= 0


def test_readiness_is_503_naming_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False

    response = client.get("/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert response.json()["status"] == "unavailable"
    assert checks["redis"]["status"] == "fail"
    assert checks["redis"]["detail"]
    assert checks["celery"]["status"] == "fail"
    assert checks["database"]["status"] == "ok"


def test_readiness_fails_when_storage_is_not_writable(client, settings, tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    settings.MEDIA_ROOT = str(read_only / "nested" / "media")
    (read_only / "nested").touch()  # a file where a folder must go: not writable even as root

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["status"] == "fail"


def test_version_names_version_commit_and_environment(client, settings):
    body = client.get("/api/v1/version").json()

    assert body["version"] == settings.ENGRAM_VERSION
    assert body["environment"] == "development"
    assert body["commit"]


def test_schema_is_openapi_3_and_documents_the_error_shape(client):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "Error" in schema["components"]["schemas"]
    assert "/health/ready" in schema["paths"]
    ready = schema["paths"]["/health/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)


def test_schema_documents_conflicts_and_event_streams(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]

    for path, method in [
        ("/api/v1/memories/{memory_id}", "patch"),
        ("/api/v1/memories/{memory_id}/revert", "post"),
        ("/api/v1/memories/bulk", "post"),
    ]:
        conflict = paths[path][method]["responses"]["409"]
        assert conflict["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    streams = [
        paths["/api/v1/threads/{thread_id}/models/{model_id}/messages"]["post"],
        paths["/v1/chat/completions"]["post"],
        paths["/api/v1/models/{model_id}/load/stream"]["get"],
    ]
    for operation in streams:
        assert "text/event-stream" in operation["responses"]["200"]["content"]


def test_docs_page_uses_only_local_assets(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/") for url in assets), assets
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_admin_login_page_is_the_operator_console(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert "Engram operations" in response.content.decode()
