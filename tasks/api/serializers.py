"""Input and output shapes of the tasks API. Input serializers only validate; services write."""

from typing import Any

from rest_framework import serializers

from core.api import InputSerializer
from core.pagination import PageQuerySerializer
from tasks.models import (
    COMMENT_MAX_CHARS,
    DESCRIPTION_MAX_CHARS,
    TASK_CREATORS,
    TIME_ZONE_MAX_CHARS,
    TITLE_MAX_CHARS,
    Comment,
    Priority,
    Project,
    QuestType,
    RecurrenceRule,
    Task,
    TaskSource,
    TaskStatus,
)
from tasks.selectors import TASK_ORDERINGS, TaskFilters
from tasks.services import time_zone_find

SEARCH_MAX_CHARS = 200


class TimeZoneField(serializers.CharField):
    """An IANA time zone name such as ``Europe/Berlin``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=TIME_ZONE_MAX_CHARS, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        if time_zone_find(name) is None:
            raise serializers.ValidationError(f"'{name}' is not an IANA time zone.")
        return name


class QueryBooleanField(serializers.BooleanField):
    """A boolean query parameter that may be absent: DRF reads query strings like forms, where
    a missing checkbox means false."""

    default_empty_html = serializers.empty


def _page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The shape of a cursor page of ``item`` (core.pagination.page_body), named for the schema."""
    name = item.__name__.removesuffix("Serializer") + "PageSerializer"
    fields = {
        "results": item(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
        "has_more": serializers.BooleanField(),
    }
    return type(name, (serializers.Serializer,), fields)


def _title(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=TITLE_MAX_CHARS, **kwargs)


def _description(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=DESCRIPTION_MAX_CHARS, allow_blank=True, **kwargs)


def _difficulty(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=5, **kwargs)


class TaskSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(allow_null=True)
    parent_id = serializers.UUIDField(allow_null=True)
    recurrence_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "status",
            "priority",
            "difficulty",
            "quest_type",
            "experience_points",
            "due_at",
            "time_zone",
            "project_id",
            "parent_id",
            "is_ai_suggested",
            "is_approved",
            "source",
            "recurrence_id",
            "occurrence_date",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


TaskPageSerializer = _page_of(TaskSerializer)


class SuggestionsSerializer(serializers.Serializer):
    created = TaskSerializer(many=True, help_text="The new drafts (none when the cap is reached).")


class TaskCreateSerializer(InputSerializer):
    title = _title()
    description = _description(default="")
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.MEDIUM)
    difficulty = _difficulty(default=1)
    quest_type = serializers.ChoiceField(choices=QuestType.choices, default=QuestType.SIDE)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    time_zone = TimeZoneField(default="UTC")
    project_id = serializers.UUIDField(required=False, allow_null=True)
    parent_id = serializers.UUIDField(required=False, allow_null=True)
    source = serializers.ChoiceField(
        choices=TASK_CREATORS,
        default=TaskSource.USER,
        help_text="Who created it: `user`, or `agent` for an assistant acting for the user.",
    )
    is_ai_suggested = serializers.BooleanField(default=False)
    is_approved = serializers.BooleanField(default=True)


class TaskUpdateSerializer(InputSerializer):
    title = _title(required=False)
    description = _description(required=False)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    difficulty = _difficulty(required=False)
    quest_type = serializers.ChoiceField(choices=QuestType.choices, required=False)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    time_zone = TimeZoneField(required=False)
    project_id = serializers.UUIDField(required=False, allow_null=True)
    parent_id = serializers.UUIDField(required=False, allow_null=True)
    is_approved = serializers.BooleanField(required=False)


class StatusesField(serializers.MultipleChoiceField):
    """Statuses, the parameter repeated for several; an empty value filters nothing, as an empty
    optional parameter does everywhere (the schema says so)."""

    def to_internal_value(self, data) -> set:
        return super().to_internal_value([value for value in data if value != ""])


class TaskListQuerySerializer(PageQuerySerializer, InputSerializer):
    status = StatusesField(
        choices=TaskStatus.choices, required=False, help_text="Repeat for several statuses."
    )
    project_id = serializers.UUIDField(required=False)
    parent_id = serializers.UUIDField(required=False)
    top_level = serializers.BooleanField(required=False, help_text="Only tasks without a parent.")
    due_before = serializers.DateTimeField(required=False)
    due_after = serializers.DateTimeField(required=False)
    due_today = serializers.BooleanField(
        required=False, help_text="Only tasks due today, the day being the one in `tz`."
    )
    tz = TimeZoneField(default="UTC", help_text="Your time zone, for `due_today`.")
    search = serializers.CharField(max_length=SEARCH_MAX_CHARS, required=False)
    is_approved = QueryBooleanField(required=False)
    ordering = serializers.ChoiceField(
        choices=list(TASK_ORDERINGS),
        default="-created_at",
        help_text="Ordering by `due_at` lists only tasks that have a due date.",
    )

    def to_filters(self) -> TaskFilters:
        data = self.validated_data
        return TaskFilters(
            statuses=sorted(data.get("status", [])),
            project_id=data.get("project_id"),
            parent_id=data.get("parent_id"),
            top_level=data.get("top_level", False),
            due_before=data.get("due_before"),
            due_after=data.get("due_after"),
            due_on_day_in=time_zone_find(data["tz"]) if data.get("due_today") else None,
            search=data.get("search", ""),
            is_approved=data.get("is_approved"),
        )


class StatsQuerySerializer(InputSerializer):
    tz = TimeZoneField(default="UTC", help_text="The time zone your days are counted in.")
    days = serializers.IntegerField(min_value=1, max_value=366, default=14)


class DayCountSerializer(serializers.Serializer):
    date = serializers.DateField()
    completed = serializers.IntegerField()


class TaskStatsSerializer(serializers.Serializer):
    total_xp = serializers.IntegerField()
    level = serializers.IntegerField()
    xp_into_level = serializers.IntegerField()
    xp_for_next_level = serializers.IntegerField()
    progress = serializers.FloatField(help_text="How far to the next level, 0 to 1.")
    streak_days = serializers.IntegerField()
    completed_per_day = DayCountSerializer(many=True)


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "is_archived",
            "archived_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


ProjectPageSerializer = _page_of(ProjectSerializer)


class ProjectCreateSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)
    description = _description(default="")


class ProjectUpdateSerializer(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    description = _description(required=False)
    is_archived = serializers.BooleanField(required=False)


class ProjectListQuerySerializer(PageQuerySerializer, InputSerializer):
    include_archived = serializers.BooleanField(default=False)


class CommentSerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField()

    class Meta:
        model = Comment
        fields = ["id", "task_id", "content", "created_at"]
        read_only_fields = fields


CommentPageSerializer = _page_of(CommentSerializer)


class CommentCreateSerializer(InputSerializer):
    content = serializers.CharField(max_length=COMMENT_MAX_CHARS)


class RecurrenceSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = RecurrenceRule
        fields = [
            "id",
            "rrule",
            "time_zone",
            "starts_on",
            "at_time",
            "is_active",
            "generated_until",
            "title",
            "description",
            "priority",
            "difficulty",
            "quest_type",
            "project_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


RecurrencePageSerializer = _page_of(RecurrenceSerializer)


class RecurrenceCreateSerializer(InputSerializer):
    rrule = serializers.CharField(
        max_length=500, help_text="An RFC 5545 RRULE, e.g. `FREQ=WEEKLY;BYDAY=MO,WE`."
    )
    time_zone = TimeZoneField(default="UTC")
    starts_on = serializers.DateField()
    at_time = serializers.TimeField(help_text="The local time of each occurrence.")
    title = _title()
    description = _description(default="")
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.MEDIUM)
    difficulty = _difficulty(default=1)
    quest_type = serializers.ChoiceField(choices=QuestType.choices, default=QuestType.DAILY)
    project_id = serializers.UUIDField(required=False, allow_null=True)


class RecurrenceUpdateSerializer(InputSerializer):
    rrule = serializers.CharField(max_length=500, required=False)
    time_zone = TimeZoneField(required=False)
    starts_on = serializers.DateField(required=False)
    at_time = serializers.TimeField(required=False)
    is_active = serializers.BooleanField(required=False)
    title = _title(required=False)
    description = _description(required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    difficulty = _difficulty(required=False)
    quest_type = serializers.ChoiceField(choices=QuestType.choices, required=False)
    project_id = serializers.UUIDField(required=False, allow_null=True)
