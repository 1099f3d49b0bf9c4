"""The approval page: a signed-in user sees the code their extension shows and approves it."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from connect import services
from core.errors import NotFound


class DecisionForm(forms.Form):
    code = forms.CharField(max_length=20)
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])


@login_required
@require_http_methods(["GET", "POST"])
def extension_connect(request: HttpRequest) -> HttpResponse:
    """GET ?code=: the pending request with that code, to approve or deny; without a code, a
    form to type the one the extension shows. POST: the decision."""
    context: dict = {"code": request.GET.get("code", "")[:20]}
    status = 200
    if request.method == "POST":
        form = DecisionForm(request.POST)
        context["code"] = request.POST.get("code", "")[:20]
        if form.is_valid():
            try:
                decided = services.connect_request_decide(
                    user=request.user,
                    user_code=form.cleaned_data["code"],
                    approve=form.cleaned_data["decision"] == "approve",
                )
                context["decided"] = decided
            except NotFound as error:  # expired, decided already, or never was
                context["problem"], status = error.message, 404
        else:
            context["problem"], status = "Choose Approve or Deny.", 400
    elif context["code"]:
        context["pending"] = services.connect_request_pending(user_code=context["code"])
        if context["pending"] is None:
            context["problem"] = (
                "No connect request is waiting with this code; it may have expired."
            )
            status = 404
    return render(request, "connect/extension.html", context, status=status)
