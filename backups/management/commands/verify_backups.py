"""Re-hash every stored blob (records, vectors, backups) against its recorded checksum; with
``--sweep``, first remove what interrupted writes left behind (as storage.prune does)."""

import hmac
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from backups import blobstore, selectors, services


class Command(BaseCommand):
    help = (
        "Re-hash every encrypted record, vector payload and backup in storage against its "
        "recorded SHA-256; list the corrupt and missing ones. Exits 1 if any."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--sweep",
            action="store_true",
            help="First remove .partial files and abandoned multipart uploads older than "
            "STORAGE_ORPHAN_HOURS.",
        )

    def handle(self, *args, **options) -> None:
        if options["sweep"]:
            swept = services.storage_orphans_sweep(
                older_than=timedelta(hours=settings.STORAGE_ORPHAN_HOURS)
            )
            for line in swept:
                self.stdout.write(f"REMOVED {line}")
            self.stdout.write(f"{len(swept)} leftovers of interrupted writes removed.")
        corrupt: list[str] = []
        missing: list[str] = []
        total = selectors.blob_count()
        with tqdm(total=total, unit="blob", disable=None, file=self.stderr) as progress:
            for kind, key, _size, checksum in selectors.blob_keys_all():
                try:
                    digest = blobstore.blob_sha256(key=key)
                except blobstore.BlobMissing:
                    missing.append(f"{kind} {key}")
                else:
                    if not hmac.compare_digest(digest, checksum):
                        corrupt.append(f"{kind} {key}")
                progress.update()
        for line in corrupt:
            self.stdout.write(f"CORRUPT {line}")
        for line in missing:
            self.stdout.write(f"MISSING {line}")
        self.stdout.write(
            f"{total} blobs checked: {total - len(corrupt) - len(missing)} intact, "
            f"{len(corrupt)} corrupt, {len(missing)} missing."
        )
        if corrupt or missing:
            raise CommandError("Some stored blobs are corrupt or missing.")
