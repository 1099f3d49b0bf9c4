"""Re-hash every stored blob (records, vectors, backups) against its recorded checksum."""

import hmac

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from backups import blobstore, selectors


class Command(BaseCommand):
    help = (
        "Re-hash every encrypted record, vector payload and backup in storage against its "
        "recorded SHA-256; list the corrupt and missing ones. Exits 1 if any."
    )

    def handle(self, *args, **options) -> None:
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
