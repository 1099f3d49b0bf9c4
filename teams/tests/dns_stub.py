"""The DNS boundary for tests (TEAMS_DNS_RESOLVER): TXT records a test publishes."""

RECORDS: dict[str, list[str]] = {}


def txt_records(domain: str) -> list[str]:
    return list(RECORDS.get(domain, []))
