import json

from django.core.management.base import BaseCommand

from memories.selectors import memories_overview


class Command(BaseCommand):
    help = "Counts of all memories: by status, provider, source and model; users; indexes."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, json: bool = False, **options) -> None:
        overview = memories_overview()
        if json:
            self.stdout.write(_dumps(overview))
            return
        for section, values in overview.items():
            if isinstance(values, dict):
                self.stdout.write(f"{section}:")
                for name, count in values.items():
                    self.stdout.write(f"  {name or '(none)'}: {count}")
            else:
                self.stdout.write(f"{section}: {values}")


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
