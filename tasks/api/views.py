"""Tasks, projects, comments and recurrence rules of the signed-in user."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiScope
from accounts.permissions import key_scopes, scope_required
from core.api import ApiView, OwnedObjectView, validated, validated_serializer
from core.pagination import page_body
from tasks import intelligence, selectors, services
from tasks.api import serializers as s
from tasks.models import Comment, Project, RecurrenceRule, Task

TAG = ["tasks"]
CONFLICT = OpenApiResponse(
    description="The task's state forbids it (CONFLICT): open subtasks, awaiting approval, "
    "or an open subtask under a done task."
)


def _id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=what)


TASK_ID = _id("task_id", "The task's id.")
PROJECT_ID = _id("project_id", "The project's id.")
COMMENT_ID = _id("comment_id", "The comment's id.")
RULE_ID = _id("rule_id", "The recurrence rule's id.")


class TasksView(ApiView):
    # Base of every tasks view: API keys need tasks:read or tasks:write.
    scope_family = "tasks"


class OwnedTaskView(OwnedObjectView, TasksView):
    owned_kwarg, owned_arg = "task_id", "task"

    def owned_queryset(self):
        return Task.objects.all()


class TaskCollectionView(TasksView):
    @extend_schema(
        tags=TAG,
        operation_id="tasks_list",
        summary="List tasks (filters, ordering, cursor pages)",
        parameters=[s.TaskListQuerySerializer],
        responses={200: s.TaskPageSerializer},
    )
    def get(self, request: Request) -> Response:
        query = validated_serializer(s.TaskListQuerySerializer, request.query_params)
        page = selectors.task_page(
            user=request.user,
            filters=query.to_filters(),
            ordering=query.validated_data["ordering"],
            cursor=query.validated_data.get("cursor") or None,
            limit=query.validated_data["limit"],
        )
        return Response(page_body(page, s.TaskSerializer))

    @extend_schema(
        tags=TAG,
        operation_id="tasks_create",
        summary="Create a task (or a subtask, with parent_id)",
        request=s.TaskCreateSerializer,
        responses={201: s.TaskSerializer, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.TaskCreateSerializer, request.data)
        task = services.task_create(user=request.user, **data)
        return Response(s.TaskSerializer(task).data, status=201)


class TaskStatsView(TasksView):
    @extend_schema(
        tags=TAG,
        operation_id="tasks_stats",
        summary="Your XP, level, progress to the next level, streak and completions per day",
        parameters=[s.StatsQuerySerializer],
        responses={200: s.TaskStatsSerializer},
    )
    def get(self, request: Request) -> Response:
        query = validated(s.StatsQuerySerializer, request.query_params)
        stats = selectors.task_stats(
            user=request.user, zone=services.time_zone_get(query["tz"]), days=query["days"]
        )
        return Response(
            s.TaskStatsSerializer(
                {
                    "total_xp": stats.total_xp,
                    "level": stats.level.level,
                    "xp_into_level": stats.level.xp_into_level,
                    "xp_for_next_level": stats.level.xp_for_next_level,
                    "progress": stats.level.progress,
                    "streak_days": stats.streak_days,
                    "completed_per_day": [
                        {"date": day, "completed": count} for day, count in stats.completed_per_day
                    ],
                }
            ).data
        )


class TaskSuggestionsView(TasksView):
    @extend_schema(
        tags=TAG,
        operation_id="tasks_suggest",
        summary="Propose tasks from your recent memories, as drafts awaiting your approval",
        description='Approve a draft with `PATCH {"is_approved": true}`, dismiss it with '
        "`DELETE`. An API key needs `tasks:write` and `memories:read`. At most "
        "TASKS_SUGGESTIONS_MAX_PENDING drafts wait at once; a proposal like an open task is "
        "left out.",
        request=None,
        responses={
            201: s.SuggestionsSerializer,
            503: OpenApiResponse(
                description="No language model is usable for suggestions (PROVIDER_UNAVAILABLE)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        # It writes tasks (the view's family) from the memories it reads: a key needs both.
        scope_required(key_scopes(request.auth), ApiScope.MEMORIES_READ)
        drafts = intelligence.tasks_suggest(user=request.user)
        return Response(s.SuggestionsSerializer({"created": drafts}).data, status=201)


class TaskDetailView(OwnedTaskView):
    @extend_schema(
        tags=TAG,
        operation_id="tasks_retrieve",
        summary="Read a task",
        parameters=[TASK_ID],
        responses={200: s.TaskSerializer},
    )
    def get(self, request: Request, task: Task) -> Response:
        return Response(s.TaskSerializer(task).data)

    @extend_schema(
        tags=TAG,
        operation_id="tasks_update",
        summary="Change a task; status `done` completes it (XP), leaving `done` takes XP back",
        parameters=[TASK_ID],
        request=s.TaskUpdateSerializer,
        responses={200: s.TaskSerializer, 409: CONFLICT},
    )
    def patch(self, request: Request, task: Task) -> Response:
        changes = validated(s.TaskUpdateSerializer, request.data)
        return Response(s.TaskSerializer(services.task_update(task=task, changes=changes)).data)

    @extend_schema(
        tags=TAG,
        operation_id="tasks_delete",
        summary="Delete a task and its subtasks (XP earned stays)",
        parameters=[TASK_ID],
        responses={204: None},
    )
    def delete(self, request: Request, task: Task) -> Response:
        services.task_delete(task=task)
        return Response(status=204)


class TaskCommentsView(OwnedTaskView):
    @extend_schema(
        tags=TAG,
        operation_id="tasks_comments_list",
        summary="A task's comments, oldest first",
        parameters=[TASK_ID, s.PageQuerySerializer],
        responses={200: s.CommentPageSerializer},
    )
    def get(self, request: Request, task: Task) -> Response:
        query = validated(s.PageQuerySerializer, request.query_params)
        page = selectors.comment_page(
            task=task, cursor=query.get("cursor") or None, limit=query["limit"]
        )
        return Response(page_body(page, s.CommentSerializer))

    @extend_schema(
        tags=TAG,
        operation_id="tasks_comments_create",
        summary="Comment on a task",
        parameters=[TASK_ID],
        request=s.CommentCreateSerializer,
        responses={201: s.CommentSerializer},
    )
    def post(self, request: Request, task: Task) -> Response:
        data = validated(s.CommentCreateSerializer, request.data)
        comment = services.comment_create(task=task, user=request.user, content=data["content"])
        return Response(s.CommentSerializer(comment).data, status=201)


class CommentDetailView(OwnedObjectView, TasksView):
    owned_kwarg, owned_arg, owner_field = "comment_id", "comment", "task__user"

    def owned_queryset(self):
        return Comment.objects.all()

    @extend_schema(
        tags=TAG,
        operation_id="tasks_comments_delete",
        summary="Delete a comment",
        parameters=[COMMENT_ID],
        responses={204: None},
    )
    def delete(self, request: Request, comment: Comment) -> Response:
        services.comment_delete(comment=comment)
        return Response(status=204)


class ProjectCollectionView(TasksView):
    @extend_schema(
        tags=TAG,
        operation_id="projects_list",
        summary="List projects, newest first (archived ones with include_archived=true)",
        parameters=[s.ProjectListQuerySerializer],
        responses={200: s.ProjectPageSerializer},
    )
    def get(self, request: Request) -> Response:
        query = validated(s.ProjectListQuerySerializer, request.query_params)
        page = selectors.project_page(
            user=request.user,
            include_archived=query["include_archived"],
            cursor=query.get("cursor") or None,
            limit=query["limit"],
        )
        return Response(page_body(page, s.ProjectSerializer))

    @extend_schema(
        tags=TAG,
        operation_id="projects_create",
        summary="Create a project",
        request=s.ProjectCreateSerializer,
        responses={201: s.ProjectSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.ProjectCreateSerializer, request.data)
        project = services.project_create(user=request.user, **data)
        return Response(s.ProjectSerializer(project).data, status=201)


class ProjectDetailView(OwnedObjectView, TasksView):
    owned_kwarg, owned_arg = "project_id", "project"

    def owned_queryset(self):
        return Project.objects.all()

    @extend_schema(
        tags=TAG,
        operation_id="projects_retrieve",
        summary="Read a project",
        parameters=[PROJECT_ID],
        responses={200: s.ProjectSerializer},
    )
    def get(self, request: Request, project: Project) -> Response:
        return Response(s.ProjectSerializer(project).data)

    @extend_schema(
        tags=TAG,
        operation_id="projects_update",
        summary="Rename, describe, archive or restore a project",
        parameters=[PROJECT_ID],
        request=s.ProjectUpdateSerializer,
        responses={200: s.ProjectSerializer},
    )
    def patch(self, request: Request, project: Project) -> Response:
        changes = validated(s.ProjectUpdateSerializer, request.data)
        project = services.project_update(project=project, changes=changes)
        return Response(s.ProjectSerializer(project).data)

    @extend_schema(
        tags=TAG,
        operation_id="projects_archive",
        summary="Archive a project (projects are never deleted; restore with PATCH)",
        parameters=[PROJECT_ID],
        responses={200: s.ProjectSerializer},
    )
    def delete(self, request: Request, project: Project) -> Response:
        return Response(s.ProjectSerializer(services.project_archive(project=project)).data)


class RecurrenceCollectionView(TasksView):
    @extend_schema(
        tags=TAG,
        operation_id="recurrences_list",
        summary="List recurrence rules, newest first",
        parameters=[s.PageQuerySerializer],
        responses={200: s.RecurrencePageSerializer},
    )
    def get(self, request: Request) -> Response:
        query = validated(s.PageQuerySerializer, request.query_params)
        page = selectors.recurrence_page(
            user=request.user, cursor=query.get("cursor") or None, limit=query["limit"]
        )
        return Response(page_body(page, s.RecurrenceSerializer))

    @extend_schema(
        tags=TAG,
        operation_id="recurrences_create",
        summary="Create a recurring task (its next occurrences are created at once)",
        request=s.RecurrenceCreateSerializer,
        responses={201: s.RecurrenceSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.RecurrenceCreateSerializer, request.data)
        rule = services.recurrence_create(user=request.user, **data)
        return Response(s.RecurrenceSerializer(rule).data, status=201)


class RecurrenceDetailView(OwnedObjectView, TasksView):
    owned_kwarg, owned_arg = "rule_id", "rule"

    def owned_queryset(self):
        return RecurrenceRule.objects.all()

    @extend_schema(
        tags=TAG,
        operation_id="recurrences_retrieve",
        summary="Read a recurrence rule",
        parameters=[RULE_ID],
        responses={200: s.RecurrenceSerializer},
    )
    def get(self, request: Request, rule: RecurrenceRule) -> Response:
        return Response(s.RecurrenceSerializer(rule).data)

    @extend_schema(
        tags=TAG,
        operation_id="recurrences_update",
        summary="Change a rule from now on (future occurrences still to do are remade)",
        parameters=[RULE_ID],
        request=s.RecurrenceUpdateSerializer,
        responses={200: s.RecurrenceSerializer},
    )
    def patch(self, request: Request, rule: RecurrenceRule) -> Response:
        changes = validated(s.RecurrenceUpdateSerializer, request.data)
        rule = services.recurrence_update(rule=rule, changes=changes)
        return Response(s.RecurrenceSerializer(rule).data)

    @extend_schema(
        tags=TAG,
        operation_id="recurrences_delete",
        summary="Delete a rule and its future occurrences still to do",
        parameters=[RULE_ID],
        responses={204: None},
    )
    def delete(self, request: Request, rule: RecurrenceRule) -> Response:
        services.recurrence_delete(rule=rule)
        return Response(status=204)
