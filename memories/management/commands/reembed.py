"""Re-embed every memory with the configured embedder, in batches, resumably.

To switch models without a gap in search:
  1. run this with the NEW embedding settings in its environment while the service keeps the
     old ones: new vectors are written beside the old (each row names its model), and search
     goes on using the old vectors;
  2. switch the service's settings to the new model and restart it;
  3. run this again (it only does what is missing: memories saved in between), then once more
     with --drop-other-models to delete the old vectors and their indexes.
A crashed run just runs again: what is left is read from the database.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from memories import services
from memories.models import EmbeddingStatus, Memory
from providers.embeddings import get_embedder


class Command(BaseCommand):
    help = "Embed every memory that lacks vectors of the configured model (resumable)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=settings.EMBEDDING_BATCH_SIZE)
        parser.add_argument(
            "--drop-other-models",
            action="store_true",
            help="Afterwards, delete vectors and per-user indexes of every other model.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, batch_size: int, drop_other_models: bool, no_progress: bool, **kw):
        embedder = get_embedder()
        todo = Memory.objects.exclude(
            embedding_model=embedder.name, embedding_status=EmbeddingStatus.READY
        ).count()
        self.stdout.write(f"{todo} memories to embed with {embedder.name}.")
        embedded, after = 0, None
        with tqdm(total=todo, unit="memory", disable=no_progress) as progress:
            while True:
                done, after = services.memories_reembed_batch(
                    embedder=embedder, after=after, batch_size=batch_size
                )
                if after is None:
                    break
                embedded += done
                progress.update(done)
        self.stdout.write(self.style.SUCCESS(f"Embedded {embedded} memories."))
        if drop_other_models:
            dropped = services.chunks_drop_other_models(keep_model=embedder.name)
            self.stdout.write(f"Deleted {dropped} vectors of other models.")
