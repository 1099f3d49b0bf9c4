"""The pure rules: the revenue split's rounding, version order, manifest field errors, and the
package archive's checks against zips crafted byte by byte."""

import io
import json
from datetime import UTC, datetime

import pytest

from marketplace.manifest import MANIFEST_NAME, archive_report, manifest_errors, version_is_newer
from marketplace.shares import period_of, previous_period, split_fee, split_refund
from marketplace.tests.conftest import RawEntry, manifest_of, package_of, raw_zip


@pytest.mark.parametrize(
    ("gross", "fee", "share"),
    [(999, 299, 700), (1, 0, 1), (3, 0, 3), (4, 1, 3), (1000, 300, 700), (1001, 300, 701)],
)
def test_the_platform_fee_is_rounded_down_so_the_publisher_keeps_at_least_70_percent(
    gross, fee, share
):
    assert split_fee(gross) == (fee, share)
    assert share * 100 >= gross * 70
    assert split_refund(gross, 0, gross) == (-fee, -share)  # a full refund mirrors its sale


@pytest.mark.parametrize("parts", [[333, 333, 333], [1] * 999, [500, 499], [1, 998], [7, 992]])
def test_refunds_in_any_parts_leave_the_remainders_split_and_net_a_full_refund_to_zero(parts):
    # Each part split on its own left a 999-cent sale refunded in thirds at +2 / -2 cents.
    fee, share = split_fee(999)
    refunded = 0
    for part in parts:
        part_fee, part_share = split_refund(999, refunded, part)
        fee, share, refunded = fee + part_fee, share + part_share, refunded + part
        assert part_fee + part_share == -part
        assert (fee, share) == split_fee(999 - refunded)
    assert (fee, share) == (0, 0)


def test_every_amount_up_to_100_euros_splits_exactly():
    for gross in range(1, 10_001):
        fee, share = split_fee(gross)
        assert fee + share == gross and fee == gross * 30 // 100 and share * 10 >= gross * 7


@pytest.mark.parametrize(
    ("version", "than", "newer"),
    [
        ("1.0.1", "1.0.0", True),
        ("1.10.0", "1.9.9", True),
        ("1.0.0", "1.0.0-rc.1", True),
        ("1.0.0-rc.1", "1.0.0", False),
        ("1.0.0+build.7", "1.0.0", False),
        ("0.9.0", "1.0.0", False),
        ("2.0.0", None, True),
    ],
)
def test_version_order_is_semver(version, than, newer):
    assert version_is_newer(version, than) is newer


def test_a_valid_manifest_has_no_errors():
    assert manifest_errors(manifest_of()) == {}


def test_manifest_errors_name_their_field():
    errors = manifest_errors(
        {**manifest_of(permissions=["network:*.evil", "chat"]), "extra": 1, "name": "\x00\x01"}
    )
    assert set(errors) == {"manifest", "manifest.permissions[0]", "manifest.name"}
    assert "binary" in errors["manifest.name"][0]


def test_periods():
    assert period_of(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == "2026-01"
    assert previous_period(datetime(2026, 1, 5, tzinfo=UTC)) == "2025-12"


LIMIT = 64 * 1024
MAIN = RawEntry("plugin/main.py", b"def run(ctx):\n    return None\n")


def _manifest_entry(manifest: dict) -> RawEntry:
    return RawEntry(MANIFEST_NAME, json.dumps(manifest).encode())


def _problems(package: bytes, manifest: dict | None = None) -> list[str]:
    report = archive_report(
        io.BytesIO(package), manifest=manifest or manifest_of(), max_bytes=LIMIT
    )
    return report.errors.get("package", [])


def test_an_honest_package_passes_every_check():
    assert _problems(package_of(manifest_of())) == []
    stored = raw_zip([_manifest_entry(manifest_of()), RawEntry("a.py", b"x" * 100, deflated=False)])
    assert _problems(stored) == []


def test_a_bomb_declaring_small_sizes_is_counted_by_unpacking_it():
    # 1 MiB of zeros (about 1 KB deflated) that says it unpacks to 1,000 bytes.
    bomb = RawEntry("plugin/data.bin", bytes(1024**2), declared=1_000)

    problems = _problems(raw_zip([_manifest_entry(manifest_of()), MAIN, bomb]))

    assert problems == [f"Unpacks to more than {LIMIT} bytes, the limit."]


def test_four_entries_each_declaring_little_but_inflating_past_the_limit_are_refused():
    entries = [RawEntry(f"plugin/{n}.bin", bytes(4 * LIMIT), declared=10) for n in range(4)]

    package = raw_zip([_manifest_entry(manifest_of()), *entries])

    assert len(package) < LIMIT
    assert _problems(package) == [f"Unpacks to more than {LIMIT} bytes, the limit."]


def test_entries_under_the_limit_one_by_one_count_together():
    entries = [RawEntry(f"plugin/{n}.bin", bytes(LIMIT // 3)) for n in range(4)]

    assert _problems(raw_zip([_manifest_entry(manifest_of()), *entries])) == [
        f"Unpacks to more than {LIMIT} bytes, the limit."
    ]


def test_a_size_declared_larger_than_the_data_is_refused():
    lying = RawEntry("plugin/data.bin", b"small", declared=50)

    problems = _problems(raw_zip([_manifest_entry(manifest_of()), lying]))

    assert problems == ["'plugin/data.bin' declares a size its data does not have."]


def test_a_local_header_naming_another_file_than_the_central_directory_is_refused():
    # Same length, so every offset holds: only the local header tells the truth.
    hidden = RawEntry("aaaaaaaaaaaaaa.py", b"evil()", local_name="../../../evil.py_")

    problems = _problems(raw_zip([_manifest_entry(manifest_of()), MAIN, hidden]))

    assert problems == [
        "The entry listed as 'aaaaaaaaaaaaaa.py' is named '../../../evil.py_' in its local header."
    ]


def test_a_second_manifest_is_refused():
    submitted = manifest_of()
    wider = manifest_of(permissions=["memories:read", "memories:write", "network:evil.example"])

    package = raw_zip([_manifest_entry(wider), MAIN, _manifest_entry(submitted)])

    assert _problems(package, submitted) == [f"Entries appear twice: {MANIFEST_NAME!r}."]


@pytest.mark.parametrize(
    "twin", ["./engram-plugin.json", "Engram-Plugin.JSON", "plugin//main.py", "plugin\\main.py"]
)
def test_names_that_unpack_to_the_same_file_are_duplicates(twin):
    package = raw_zip([_manifest_entry(manifest_of()), MAIN, RawEntry(twin, b"{}")])

    assert any("appear twice" in problem for problem in _problems(package))


def test_a_name_with_a_nul_byte_is_refused():
    package = raw_zip([_manifest_entry(manifest_of()), RawEntry("evil.py\x00.txt", b"x")])

    assert _problems(package) == [
        "Paths outside the package or with control characters: 'evil.py\\x00.txt'."
    ]
