"""A team invitation's emailed link (``TEAMS_LINK_BASE_URL/teams/invitations/accept?token=…``):
a button joins the team (a GET changes nothing, so a mail scanner following the link joins no
one); signed out, the sign-in page comes first and sends the person back here."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from core.errors import EngramError
from teams import selectors as team_selectors
from teams import services as teams
from web.views.common import error_text, page, render_page

TEMPLATE = "web/invitation_accept.html"


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
    return redirect("web:memories")
