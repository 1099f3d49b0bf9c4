"""The web app's forms: they validate what a person typed; services decide the rest."""

import uuid
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from accounts.models import PREFERENCE_FIELDS, ApiScope, Provider, User
from core.pagination import CURSOR_PATTERN
from memories.models import Provider as MemoryProvider
from memories.models import Source
from memories.selectors import SEARCH_QUERY_MAX_CHARS
from memories.services import TAG_MAX_CHARS
from tasks.models import TITLE_MAX_CHARS, Priority, QuestType
from tasks.services import time_zone_find
from teams.models import INVITABLE_ROLES

SEARCH_MODES = [("hybrid", "Hybrid"), ("semantic", "Meaning"), ("keyword", "Keywords")]
# What a person types to confirm that every memory goes.
FORGET_PHRASE = "forget everything"


class SignUpForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not a common password.",
    )


class SignInForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    code = forms.CharField(
        required=False,
        label="Authentication code",
        help_text="From your authenticator app, or a recovery code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, code_only: bool = False, **kwargs: Any) -> None:
        """``code_only``: the second step of a sign-in whose password was right."""
        super().__init__(*args, **kwargs)
        if code_only:
            self.fields["email"].required = self.fields["password"].required = False
            self.fields["code"].required = True


cursor_field = forms.CharField(
    required=False, validators=[RegexValidator(CURSOR_PATTERN)], widget=forms.HiddenInput
)


class MemoryQueryForm(forms.Form):
    """The memories page's search box and filters (all optional: no query lists newest first)."""

    q = forms.CharField(
        required=False, max_length=SEARCH_QUERY_MAX_CHARS, label="Search your memories"
    )
    mode = forms.ChoiceField(choices=SEARCH_MODES, required=False, initial="hybrid")
    provider = forms.ChoiceField(
        choices=[("", "Any"), *MemoryProvider.choices], required=False, label="Provider"
    )
    source = forms.ChoiceField(choices=[("", "Any"), *Source.choices], required=False)
    tag = forms.CharField(required=False, max_length=TAG_MAX_CHARS, label="Tag")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"})
    )
    # Whose memories a search covers besides the person's own: search's include_team.
    team = forms.ChoiceField(required=False, label="Search in")
    cursor = cursor_field

    def __init__(self, *args: Any, teams: Mapping[uuid.UUID, str], **kwargs: Any) -> None:
        """``teams``: the person's teams' names, by id."""
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [
            # Short: the select sits in the search bar's row.
            ("", "As in your settings"),
            ("none", "Only yours"),
            ("all", "All your teams too"),
            *((f"team:{pk}", f"Yours and {name}'s") for pk, name in teams.items()),
        ]


class MemoryForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea, label="What to remember")
    tags = forms.CharField(
        required=False, max_length=2000, help_text="Separated by commas.", label="Tags"
    )

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]


class ImportForm(forms.Form):
    file = forms.FileField(
        label="An export (JSON Lines, one memory a line)",
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.json,application/x-ndjson"}),
    )


class ForgetForm(forms.Form):
    confirm = forms.CharField(
        label=f'Type "{FORGET_PHRASE}" to confirm',
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"].strip().lower() != FORGET_PHRASE:
            raise forms.ValidationError(f'Type "{FORGET_PHRASE}" exactly.')
        return self.cleaned_data["confirm"]


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="Where it is used.")
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiScope.MEMORIES_READ, ApiScope.MEMORIES_WRITE, ApiScope.CHAT],
    )
    # This form's own mark: a key is made once per form drawn, not again when the page that
    # showed its secret is reloaded (the browser sends the form again).
    once = forms.CharField(widget=forms.HiddenInput, max_length=64)


class ProviderKeyForm(forms.Form):
    provider = forms.ChoiceField(choices=Provider.choices)
    api_key = forms.CharField(
        label="API key", max_length=500, widget=forms.PasswordInput(attrs={"autocomplete": "off"})
    )
    base_url = forms.URLField(
        required=False, label="Base URL", help_text="Only for a custom OpenAI-compatible server."
    )


class ChatForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Your message")
    model = forms.CharField(max_length=200)


class EmailChangeForm(forms.Form):
    email = forms.EmailField(
        label="New email address", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        required=False,
        label="Current password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label="New password",
        help_text="At least 8 characters; not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, has_password: bool = True, **kwargs: Any) -> None:
        """``has_password``: the account has one, which must be given to change it."""
        super().__init__(*args, **kwargs)
        self.fields["old_password"].required = has_password


class SecondFactorForm(forms.Form):
    password = forms.CharField(
        label="Current password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        required=False,
        label="Code from the app",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, turning_on: bool = True, **kwargs: Any) -> None:
        """``turning_on``: a code from the app proves it has the secret."""
        super().__init__(*args, **kwargs)
        self.fields["code"].required = turning_on


class AccountDeletionForm(forms.Form):
    confirm_email = forms.CharField(
        max_length=254,
        label="Your email address, to confirm",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label="Current password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, has_password: bool = True, **kwargs: Any) -> None:
        """``has_password``: an account made through a provider confirms with its address."""
        # Its own ids: the page's other forms have a password field too.
        super().__init__(*args, auto_id="deletion_%s", **kwargs)
        self.fields["password"].required = has_password


class ProfileForm(forms.ModelForm):
    """The preferences PATCH /auth/me changes, their limits the model's own; the view hands
    ``cleaned_data`` to accounts.services.user_profile_update and never saves the form."""

    class Meta:
        model = User
        fields = ("display_name", *PREFERENCE_FIELDS)
        labels = {
            "display_name": "Your name",
            "default_temperature": "Temperature",
            "system_prompt": "Instructions for every chat",
            "memory_enabled": "Use my memories in chat and agents' answers",
            "auto_extract": "Extract facts from my conversations into memories",
            "save_chat_memories": "Save each chat exchange as a memory",
        }
        help_texts = {
            "default_model": "A model id of the chat page's list; empty: the server's default.",
            "default_temperature": "0 (focused) to 2 (varied).",
        }
        widgets = {"system_prompt": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As the API keeps it: an instruction's leading and trailing spaces are the person's.
        self.fields["system_prompt"].strip = False


class OrganisationForm(forms.Form):
    name = forms.CharField(max_length=150, label="Organisation name")


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address to invite")
    role = forms.ChoiceField(choices=INVITABLE_ROLES, initial="member", label="Role")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=INVITABLE_ROLES, label="Role")


class OrganisationDeletionForm(forms.Form):
    name = forms.CharField(max_length=150, label="The organisation's name, to confirm")

    def __init__(self, *args: Any, organisation_name: str, **kwargs: Any) -> None:
        # Its own ids: the page's other forms have a name field too.
        super().__init__(*args, auto_id="deletion_%s", **kwargs)
        self.organisation_name = organisation_name

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name.strip() != self.organisation_name.strip():
            raise forms.ValidationError("Type the organisation's name exactly to confirm.")
        return name


DUE_YEARS = (1900, 9000)


class TaskForm(forms.Form):
    """A new task. Its due time is typed in the reader's own time: app.js names their zone in
    ``time_zone`` (UTC without scripts)."""

    title = forms.CharField(max_length=TITLE_MAX_CHARS, label="What to do")
    due = forms.DateTimeField(
        required=False,
        label="Due",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    quest_type = forms.ChoiceField(choices=QuestType.choices, initial=QuestType.SIDE, label="Kind")
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.MEDIUM)
    difficulty = forms.TypedChoiceField(
        choices=[(n, str(n)) for n in range(1, 6)],
        coerce=int,
        initial=1,
        label="Difficulty (1 to 5)",
    )
    time_zone = forms.CharField(
        max_length=64, required=False, widget=forms.HiddenInput(attrs={"data-reader-zone": ""})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = data.get("time_zone") or "UTC"
        zone = time_zone_find(name)
        if zone is None:
            raise forms.ValidationError("Your browser named a time zone this server does not know.")
        data["time_zone"] = name
        if data.get("due") is not None:
            due = data["due"].replace(tzinfo=zone)
            # Within what every reader of the date can hold (Python's years end at 9999).
            if not DUE_YEARS[0] <= due.year <= DUE_YEARS[1]:
                self.add_error("due", f"A date between {DUE_YEARS[0]} and {DUE_YEARS[1]}.")
            data["due"] = due
        return data
