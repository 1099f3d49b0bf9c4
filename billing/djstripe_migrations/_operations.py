"""One migration operation for dj-stripe's ~70 model operations (its name starts with an
underscore, so Django's migration loader does not take it for a migration)."""

from django.db import migrations


class CreateModelsAtOnce(migrations.operations.base.Operation):
    """CreateModel and AddField operations that make new models, applied as one.

    Applied one by one, each re-renders every model related to the one it changes: dj-stripe's
    59 models, all tied to a few (Customer, Account), cost ~10 s of a first start that way. Here
    the state takes them all before one render, and each table is created from its final model
    (columns in the same order; foreign keys, as always, at the end of the schema editor).
    """

    reversible = False

    def __init__(self, operations: list[migrations.operations.base.Operation]) -> None:
        self.operations = operations
        super().__init__()

    def deconstruct(self) -> tuple[str, list, dict]:
        return self.__class__.__qualname__, [self.operations], {}

    @property
    def _created(self) -> list[migrations.CreateModel]:
        return [op for op in self.operations if isinstance(op, migrations.CreateModel)]

    def state_forwards(self, app_label: str, state) -> None:
        # Without rendered apps, each operation only records its model state (no re-render).
        rendered = state.__dict__.pop("apps", None)
        for operation in self.operations:
            operation.state_forwards(app_label, state)
        if rendered is not None:
            state.__dict__["apps"] = rendered
            state.reload_models([(app_label, op.name_lower) for op in self._created], delay=True)

    def database_forwards(self, app_label: str, schema_editor, from_state, to_state) -> None:
        for operation in self._created:
            model = to_state.apps.get_model(app_label, operation.name)
            if self.allow_migrate_model(schema_editor.connection.alias, model):
                schema_editor.create_model(model)

    def describe(self) -> str:
        return f"Create {len(self._created)} models at once"
