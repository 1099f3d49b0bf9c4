from rest_framework import serializers

from core.api import InputSerializer
from core.pagination import PageQuerySerializer
from teams.models import INVITABLE_ROLES, Role


def _page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The shape of a cursor page of ``item`` (core.pagination.page_body), named for the schema."""
    name = item.__name__.removesuffix("Serializer") + "PageSerializer"
    fields = {
        "results": item(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
        "has_more": serializers.BooleanField(),
    }
    return type(name, (serializers.Serializer,), fields)


class PageQuery(PageQuerySerializer, InputSerializer):
    pass


# --- organisations -------------------------------------------------------------------------------


class OrganisationCreateSerializer(InputSerializer):
    name = serializers.CharField(max_length=150)


class OrganisationUpdateSerializer(InputSerializer):
    name = serializers.CharField(max_length=150, required=False)
    members_write = serializers.BooleanField(required=False)


class SeatsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="null: unlimited (billing off).")
    members = serializers.IntegerField()
    pending_invitations = serializers.IntegerField(source="pending")
    available = serializers.IntegerField(allow_null=True)
    over_limit = serializers.BooleanField(
        help_text="More members than seats: everyone stays, nobody new can join."
    )
    message = serializers.CharField(allow_blank=True)


class MyOrganisationSerializer(serializers.Serializer):
    """An organisation as one of its members sees it (their membership)."""

    id = serializers.UUIDField(source="organisation.id")
    name = serializers.CharField(source="organisation.name")
    role = serializers.ChoiceField(choices=Role.choices)
    members_write = serializers.BooleanField(source="organisation.members_write")
    include_in_search = serializers.BooleanField()
    joined_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField(source="organisation.created_at")


MyOrganisationPageSerializer = _page_of(MyOrganisationSerializer)


class MembershipPreferencesSerializer(InputSerializer):
    include_in_search = serializers.BooleanField(
        help_text="Whether your searches and chat recall include this team's memories by default."
    )


# --- members and invitations ---------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = serializers.EmailField(source="user.email")
    display_name = serializers.CharField(source="user.display_name")
    role = serializers.ChoiceField(choices=Role.choices)
    joined_via = serializers.CharField()
    joined_at = serializers.DateTimeField()


MemberPageSerializer = _page_of(MemberSerializer)


class RoleChangeSerializer(InputSerializer):
    role = serializers.ChoiceField(choices=INVITABLE_ROLES)


class InvitationCreateSerializer(InputSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=INVITABLE_ROLES, default=Role.MEMBER)


class InvitationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


InvitationPageSerializer = _page_of(InvitationSerializer)


class InvitationAcceptSerializer(InputSerializer):
    token = serializers.CharField(max_length=100)


# --- audit ---------------------------------------------------------------------------------------


class AuditEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    action = serializers.CharField()
    actor_id = serializers.UUIDField(allow_null=True)
    actor_email = serializers.CharField()
    subject = serializers.CharField()
    details = serializers.DictField()
    created_at = serializers.DateTimeField()


AuditEventPageSerializer = _page_of(AuditEventSerializer)


# --- SSO -----------------------------------------------------------------------------------------


class SsoInputSerializer(InputSerializer):
    issuer = serializers.URLField(max_length=500)
    client_id = serializers.CharField(max_length=255)
    client_secret = serializers.CharField(
        max_length=1000,
        required=False,
        write_only=True,
        help_text="Required the first time; leave out to keep the stored secret.",
    )
    required = serializers.BooleanField(default=False)


class SsoSerializer(serializers.Serializer):
    """The settings; never the secret."""

    issuer = serializers.URLField()
    client_id = serializers.CharField()
    client_secret_set = serializers.BooleanField()
    required = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


class DomainCreateSerializer(InputSerializer):
    domain = serializers.CharField(max_length=253)


class DomainSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    domain = serializers.CharField()
    txt_record = serializers.CharField(help_text="Publish this TXT record on the domain.")
    verified_at = serializers.DateTimeField(allow_null=True)


DomainListSerializer = type(
    "DomainListSerializer", (serializers.Serializer,), {"results": DomainSerializer(many=True)}
)
