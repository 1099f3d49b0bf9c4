"""Organisations, members, invitations, seats, SSO and the audit log. Every handler asks the
services and selectors, which check the caller's role (teams.selectors.PERMISSIONS): a
non-member gets 404, a member whose role may not 403."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiView, validated
from core.pagination import paginate
from teams import selectors, services
from teams.api import serializers as s

TAG = ["teams"]


def _id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=what)


ORG_ID = _id("organisation_id", "The organisation's id.")
USER_ID = _id("user_id", "The member's user id.")
INVITATION_ID = _id("invitation_id", "The invitation's id.")
DOMAIN_ID = _id("domain_id", "The domain's id.")


def _page(queryset, query: dict, serializer, order_field: str) -> dict:
    page = paginate(
        queryset, cursor=query.get("cursor") or None, limit=query["limit"], order_field=order_field
    )
    return {
        "results": serializer(page.items, many=True).data,
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


def _seats_body(seats: selectors.Seats) -> dict:
    message = ""
    if seats.over_limit:
        message = (
            f"{seats.members} members on {seats.limit} seats: everyone stays, but no new "
            "invitation can be sent until seats are added or people leave."
        )
    elif seats.limit is not None and seats.available == 0:
        message = "Every seat is taken or held by an open invitation."
    return s.SeatsSerializer(
        {
            **vars(seats),
            "available": seats.available,
            "over_limit": seats.over_limit,
            "message": message,
        }
    ).data


class TeamsView(ApiView):
    # Organisations are managed with a person's session, not an API key.
    scope_family = None

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if "organisation_id" in kwargs:
            # A non-member learns nothing, not even what a valid body would be: 404 first.
            selectors.membership_of(user=request.user, organisation_id=kwargs["organisation_id"])


class OrganisationCollectionView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_list",
        summary="Your organisations",
        parameters=[s.PageQuery],
        responses={200: s.MyOrganisationPageSerializer},
    )
    def get(self, request: Request) -> Response:
        query = validated(s.PageQuery, request.query_params)
        memberships = selectors.organisations_of(user=request.user)
        return Response(_page(memberships, query, s.MyOrganisationSerializer, "joined_at"))

    @extend_schema(
        tags=TAG,
        operation_id="teams_create",
        summary="Create an organisation (you are its owner)",
        request=s.OrganisationCreateSerializer,
        responses={201: s.MyOrganisationSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.OrganisationCreateSerializer, request.data)
        organisation = services.organisation_create(owner=request.user, name=data["name"])
        membership = selectors.membership_of(user=request.user, organisation_id=organisation.pk)
        return Response(s.MyOrganisationSerializer(membership).data, status=201)


class OrganisationDetailView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_retrieve",
        summary="One of your organisations",
        parameters=[ORG_ID],
        responses={200: s.MyOrganisationSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        membership = selectors.membership_of(user=request.user, organisation_id=organisation_id)
        return Response(s.MyOrganisationSerializer(membership).data)

    @extend_schema(
        tags=TAG,
        operation_id="teams_update",
        summary="Rename, or let members write team memories (owner)",
        parameters=[ORG_ID],
        request=s.OrganisationUpdateSerializer,
        responses={200: s.MyOrganisationSerializer},
    )
    def patch(self, request: Request, organisation_id: str) -> Response:
        changes = validated(s.OrganisationUpdateSerializer, request.data)
        services.organisation_update(
            user=request.user, organisation_id=organisation_id, changes=dict(changes)
        )
        membership = selectors.membership_of(user=request.user, organisation_id=organisation_id)
        return Response(s.MyOrganisationSerializer(membership).data)

    @extend_schema(
        tags=TAG,
        operation_id="teams_destroy",
        summary="Delete the organisation and its team memories (owner)",
        parameters=[ORG_ID],
        responses={204: None},
    )
    def delete(self, request: Request, organisation_id: str) -> Response:
        services.organisation_delete(user=request.user, organisation_id=organisation_id)
        return Response(status=204)


class MembershipView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_membership_update",
        summary="Your own default: include this team's memories in your searches",
        parameters=[ORG_ID],
        request=s.MembershipPreferencesSerializer,
        responses={200: s.MyOrganisationSerializer},
    )
    def patch(self, request: Request, organisation_id: str) -> Response:
        data = validated(s.MembershipPreferencesSerializer, request.data)
        membership = services.membership_preferences_set(
            user=request.user, organisation_id=organisation_id, **data
        )
        return Response(s.MyOrganisationSerializer(membership).data)

    @extend_schema(
        tags=TAG,
        operation_id="teams_leave",
        summary="Leave (your memories stay yours; the team's are no longer reachable)",
        parameters=[ORG_ID],
        responses={204: None},
    )
    def delete(self, request: Request, organisation_id: str) -> Response:
        services.member_leave(user=request.user, organisation_id=organisation_id)
        return Response(status=204)


class SeatsView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_seats",
        summary="Seats paid for against members and open invitations",
        parameters=[ORG_ID],
        responses={200: s.SeatsSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        membership = selectors.membership_of(user=request.user, organisation_id=organisation_id)
        return Response(_seats_body(selectors.seats_of(organisation=membership.organisation)))


class MemberCollectionView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_members_list",
        summary="The members",
        parameters=[ORG_ID, s.PageQuery],
        responses={200: s.MemberPageSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        query = validated(s.PageQuery, request.query_params)
        membership = selectors.membership_of(user=request.user, organisation_id=organisation_id)
        members = selectors.members_of(organisation=membership.organisation)
        return Response(_page(members, query, s.MemberSerializer, "joined_at"))


class MemberDetailView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_members_update",
        summary="Change a member's role (owner)",
        parameters=[ORG_ID, USER_ID],
        request=s.RoleChangeSerializer,
        responses={200: s.MemberSerializer},
    )
    def patch(self, request: Request, organisation_id: str, user_id: str) -> Response:
        data = validated(s.RoleChangeSerializer, request.data)
        target = services.member_role_change(
            user=request.user, organisation_id=organisation_id, member_id=user_id, role=data["role"]
        )
        return Response(s.MemberSerializer(target).data)

    @extend_schema(
        tags=TAG,
        operation_id="teams_members_destroy",
        summary="Remove a member, freeing the seat (owner, admin)",
        parameters=[ORG_ID, USER_ID],
        responses={204: None},
    )
    def delete(self, request: Request, organisation_id: str, user_id: str) -> Response:
        services.member_remove(
            user=request.user, organisation_id=organisation_id, member_id=user_id
        )
        return Response(status=204)


class InvitationCollectionView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_invitations_list",
        summary="Open invitations (owner, admin)",
        parameters=[ORG_ID, s.PageQuery],
        responses={200: s.InvitationPageSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        query = validated(s.PageQuery, request.query_params)
        membership = selectors.membership_allowed(
            user=request.user, organisation_id=organisation_id, action="invite"
        )
        invitations = selectors.invitations_open(organisation=membership.organisation)
        return Response(_page(invitations, query, s.InvitationSerializer, "created_at"))

    @extend_schema(
        tags=TAG,
        operation_id="teams_invitations_create",
        summary="Invite by email (a single-use link; holds a seat until it expires)",
        description="403 QUOTA_EXCEEDED with `details.limit` = `seats` when no seat "
        "is free (members and open invitations against the seats paid for).",
        parameters=[ORG_ID],
        request=s.InvitationCreateSerializer,
        responses={201: s.InvitationSerializer},
    )
    def post(self, request: Request, organisation_id: str) -> Response:
        data = validated(s.InvitationCreateSerializer, request.data)
        invitation, _token = services.invitation_create(
            user=request.user,
            organisation_id=organisation_id,
            email=data["email"],
            role=data["role"],
            link_base=settings.TEAMS_LINK_BASE_URL,
        )
        return Response(s.InvitationSerializer(invitation).data, status=201)


class InvitationDetailView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_invitations_destroy",
        summary="Revoke an open invitation (owner, admin)",
        parameters=[ORG_ID, INVITATION_ID],
        responses={204: None},
    )
    def delete(self, request: Request, organisation_id: str, invitation_id: str) -> Response:
        services.invitation_revoke(
            user=request.user, organisation_id=organisation_id, invitation_id=invitation_id
        )
        return Response(status=204)


class InvitationAcceptView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_invitations_accept",
        summary="Accept an invitation with the token from its email (takes a seat)",
        request=s.InvitationAcceptSerializer,
        responses={201: s.MyOrganisationSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(s.InvitationAcceptSerializer, request.data)
        membership = services.invitation_accept(user=request.user, token=data["token"])
        return Response(s.MyOrganisationSerializer(membership).data, status=201)


class AuditView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_audit",
        summary="The audit log, newest first (owner)",
        parameters=[ORG_ID, s.PageQuery],
        responses={200: s.AuditEventPageSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        query = validated(s.PageQuery, request.query_params)
        membership = selectors.membership_allowed(
            user=request.user, organisation_id=organisation_id, action="audit"
        )
        events = selectors.audit_events(organisation=membership.organisation)
        return Response(_page(events, query, s.AuditEventSerializer, "created_at"))


def _sso_body(sso) -> dict:
    return s.SsoSerializer(
        {
            "issuer": sso.issuer,
            "client_id": sso.client_id,
            "client_secret_set": bool(sso.client_secret_ciphertext),
            "required": sso.required,
            "updated_at": sso.updated_at,
        }
    ).data


class SsoView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_sso_retrieve",
        summary="The team's SSO settings, never the secret (owner)",
        parameters=[ORG_ID],
        responses={200: s.SsoSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        membership = selectors.membership_allowed(
            user=request.user, organisation_id=organisation_id, action="sso"
        )
        sso = selectors.sso_of(organisation=membership.organisation)
        return Response(_sso_body(sso))

    @extend_schema(
        tags=TAG,
        operation_id="teams_sso_update",
        summary="Set the OIDC issuer, client and whether SSO is required (owner)",
        parameters=[ORG_ID],
        request=s.SsoInputSerializer,
        responses={200: s.SsoSerializer},
    )
    def put(self, request: Request, organisation_id: str) -> Response:
        data = validated(s.SsoInputSerializer, request.data)
        sso = services.sso_configure(
            user=request.user,
            organisation_id=organisation_id,
            issuer=data["issuer"],
            client_id=data["client_id"],
            client_secret=data.get("client_secret"),
            required=data["required"],
        )
        return Response(_sso_body(sso))

    @extend_schema(
        tags=TAG,
        operation_id="teams_sso_destroy",
        summary="Remove SSO (owner)",
        parameters=[ORG_ID],
        responses={204: None},
    )
    def delete(self, request: Request, organisation_id: str) -> Response:
        services.sso_remove(user=request.user, organisation_id=organisation_id)
        return Response(status=204)


def _domain_body(domain) -> dict:
    return {
        "id": domain.id,
        "domain": domain.domain,
        "verified_at": domain.verified_at,
        "txt_record": services.TXT_PREFIX + domain.verification_token,
    }


class DomainCollectionView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_domains_list",
        summary="The email domains the team claims (owner)",
        parameters=[ORG_ID],
        responses={200: s.DomainListSerializer},
    )
    def get(self, request: Request, organisation_id: str) -> Response:
        membership = selectors.membership_allowed(
            user=request.user, organisation_id=organisation_id, action="sso"
        )
        domains = selectors.domains_of(organisation=membership.organisation)
        return Response({"results": [s.DomainSerializer(_domain_body(d)).data for d in domains]})

    @extend_schema(
        tags=TAG,
        operation_id="teams_domains_create",
        summary="Claim an email domain (publish the TXT record, then verify)",
        parameters=[ORG_ID],
        request=s.DomainCreateSerializer,
        responses={201: s.DomainSerializer},
    )
    def post(self, request: Request, organisation_id: str) -> Response:
        data = validated(s.DomainCreateSerializer, request.data)
        domain = services.domain_add(
            user=request.user, organisation_id=organisation_id, domain=data["domain"]
        )
        return Response(s.DomainSerializer(_domain_body(domain)).data, status=201)


class DomainVerifyView(TeamsView):
    @extend_schema(
        tags=TAG,
        operation_id="teams_domains_verify",
        summary="Verify a domain by its DNS TXT record (409 while it is missing)",
        parameters=[ORG_ID, DOMAIN_ID],
        request=None,
        responses={200: s.DomainSerializer},
    )
    def post(self, request: Request, organisation_id: str, domain_id: str) -> Response:
        domain = services.domain_verify(
            user=request.user, organisation_id=organisation_id, domain_id=domain_id
        )
        return Response(s.DomainSerializer(_domain_body(domain)).data)
