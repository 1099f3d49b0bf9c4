"""The teams pages: the organisations a person is in (and a new one), an organisation's page
(its members and their roles, invitations, whether its memories come into their searches,
leaving it, and for its owner deleting it), and a team invitation's emailed link
(``TEAMS_LINK_BASE_URL/teams/invitations/accept?token=…``: a button joins the team, a GET
changes nothing, so a mail scanner following the link joins no one; signed out, the sign-in page
comes first and sends the person back here). Each form calls the teams services the API calls;
who may do what is theirs to say (teams.selectors.PERMISSIONS)."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from core.errors import EngramError
from teams import selectors as team_selectors
from teams import services as teams
from teams.models import Role
from web.forms import InvitationForm, OrganisationDeletionForm, OrganisationForm, RoleForm
from web.views.common import (
    acted,
    error_text,
    flash_error,
    form_error,
    page,
    post_only,
    render_page,
)

TEMPLATE = "web/invitation_accept.html"


@page("teams")
def organisation_list(request: HttpRequest, form: OrganisationForm | None = None) -> HttpResponse:
    memberships = team_selectors.organisations_of(user=request.user).order_by("organisation__name")
    context = {"memberships": memberships, "form": form or OrganisationForm()}
    return render_page(request, "web/teams/list.html", context, status=400 if form else 200)


@post_only
@page("teams")
def organisation_new(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST)
    if form.is_valid():
        try:
            organisation = teams.organisation_create(
                owner=request.user, name=form.cleaned_data["name"]
            )
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(request, f"{organisation.name} is created: invite its members here.")
            return redirect("web:team", organisation_id=organisation.pk)
    return organisation_list(request, form=form)


def _page(request: HttpRequest, organisation_id: str, **forms: Any) -> HttpResponse:
    membership = team_selectors.membership_of(user=request.user, organisation_id=organisation_id)
    organisation = membership.organisation
    role = membership.role
    manages = role in team_selectors.PERMISSIONS["invite"]
    context = {
        "membership": membership,
        "organisation": organisation,
        "members": team_selectors.members_of(organisation=organisation).order_by("joined_at"),
        "may_invite": manages,
        "may_remove": manages,
        "may_change_roles": role in team_selectors.PERMISSIONS["change_role"],
        "is_owner": role == Role.OWNER,
        "invitations": (
            team_selectors.invitations_open(organisation=organisation).order_by("created_at")
            if manages
            else []
        ),
        "seats": team_selectors.seats_of(organisation=organisation),
        "invitation_form": forms.get("invitation_form") or InvitationForm(),
        "deletion_form": forms.get("deletion_form")
        or OrganisationDeletionForm(organisation_name=organisation.name),
        "role_choices": RoleForm.base_fields["role"].choices,
    }
    status = 400 if forms else 200
    return render_page(request, "web/teams/detail.html", context, status=status)


@page("teams")
def organisation_detail(request: HttpRequest, organisation_id: str) -> HttpResponse:
    return _page(request, organisation_id)


def _done(
    request: HttpRequest, organisation_id: str, action: Callable[[], object], success: str
) -> HttpResponse:
    """Run one service call of the organisation's page and go back to it, saying how it went."""
    acted(request, action, success)
    return redirect("web:team", organisation_id=organisation_id)


@post_only
@page("teams")
def invitation_new(request: HttpRequest, organisation_id: str) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, _ = teams.invitation_create(
                user=request.user,
                organisation_id=organisation_id,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                link_base=settings.TEAMS_LINK_BASE_URL,
            )
        except EngramError as error:
            if error.status_code == 404:
                raise
            if error.status_code == 403:  # a member's page has no invitation form to show it on
                flash_error(request, error)
                return redirect("web:team", organisation_id=organisation_id)
            form_error(form, error)
        else:
            messages.success(request, f"An invitation is on its way to {invitation.email}.")
            return redirect("web:team", organisation_id=organisation_id)
    return _page(request, organisation_id, invitation_form=form)


@post_only
@page("teams")
def invitation_revoke(
    request: HttpRequest, organisation_id: str, invitation_id: str
) -> HttpResponse:
    return _done(
        request,
        organisation_id,
        lambda: teams.invitation_revoke(
            user=request.user, organisation_id=organisation_id, invitation_id=invitation_id
        ),
        "The invitation is revoked: its link no longer works.",
    )


@post_only
@page("teams")
def member_remove(request: HttpRequest, organisation_id: str, member_id: str) -> HttpResponse:
    return _done(
        request,
        organisation_id,
        lambda: teams.member_remove(
            user=request.user, organisation_id=organisation_id, member_id=member_id
        ),
        "The member is removed: they keep their own memories, not the team's.",
    )


@post_only
@page("teams")
def member_role(request: HttpRequest, organisation_id: str, member_id: str) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose admin or member.")
        return redirect("web:team", organisation_id=organisation_id)
    role = form.cleaned_data["role"]
    return _done(
        request,
        organisation_id,
        lambda: teams.member_role_change(
            user=request.user, organisation_id=organisation_id, member_id=member_id, role=role
        ),
        f"The role is now {role}.",
    )


@post_only
@page("teams")
def search_inclusion(request: HttpRequest, organisation_id: str) -> HttpResponse:
    included = request.POST.get("include_in_search") == "on"
    return _done(
        request,
        organisation_id,
        lambda: teams.membership_preferences_set(
            user=request.user, organisation_id=organisation_id, include_in_search=included
        ),
        "The team's memories come into your searches and chats."
        if included
        else "The team's memories stay out of your searches and chats.",
    )


@post_only
@page("teams")
def organisation_leave(request: HttpRequest, organisation_id: str) -> HttpResponse:
    left = acted(
        request,
        lambda: teams.member_leave(user=request.user, organisation_id=organisation_id),
        "You left the organisation: your own memories stay yours.",
    )
    return redirect("web:teams") if left else redirect("web:team", organisation_id=organisation_id)


@post_only
@page("teams")
def organisation_deletion(request: HttpRequest, organisation_id: str) -> HttpResponse:
    membership = team_selectors.membership_of(user=request.user, organisation_id=organisation_id)
    name = membership.organisation.name
    form = OrganisationDeletionForm(request.POST, organisation_name=name)
    if form.is_valid():
        try:
            teams.organisation_delete(user=request.user, organisation_id=organisation_id)
        except EngramError as error:
            form_error(form, error)
        else:
            messages.success(request, f"{name} and its team memories are deleted.")
            return redirect("web:teams")
    return _page(request, organisation_id, deletion_form=form)


@page("teams")
def invitation_accept(request: HttpRequest) -> HttpResponse:
    token = (request.POST if request.method == "POST" else request.GET).get("token", "")
    if not token:
        return render_page(request, TEMPLATE, {"error": "This link has no invitation in it."}, 400)
    if request.method != "POST":
        # The team and who invited, for the person the link is addressed to (anyone else, or a
        # spent link, learns nothing more than the 404 a join would answer).
        invitation = (
            team_selectors.invitations_addressed(user=request.user, token=token)
            .select_related("organisation", "invited_by")
            .first()
        )
        return render_page(request, TEMPLATE, {"token": token, "invitation": invitation})
    try:
        membership = teams.invitation_accept(user=request.user, token=token)
    except EngramError as error:
        return render_page(request, TEMPLATE, {"error": error_text(error)}, error.status_code)
    messages.success(request, f"You joined {membership.organisation.name}.")
    return redirect("web:team", organisation_id=membership.organisation_id)
