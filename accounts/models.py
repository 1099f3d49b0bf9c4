import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from billing.tiers import Tier, default_tier

SYSTEM_PROMPT_MAX_CHARS = 8_000
# The chat and memory preferences a user edits on their profile.
PREFERENCE_FIELDS = (
    "default_model",
    "default_temperature",
    "system_prompt",
    "memory_enabled",
    "auto_extract",
    "save_chat_memories",
)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, email: str) -> "User":
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """An Engram account; the email is the login, compared without regard to case."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    # Set by billing from the user's Stripe subscription (billing.services.user_tier_apply),
    # or by staff; new accounts get BILLING_DEFAULT_TIER.
    tier = models.CharField(max_length=16, choices=Tier.choices, default=default_tier)
    seats = models.PositiveSmallIntegerField(
        default=1, help_text="Seats paid for: a team's limits are per seat."
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    # Chat and memory preferences (GET/PATCH /api/v1/auth/me).
    default_model = models.CharField(max_length=200, blank=True)
    default_temperature = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    system_prompt = models.TextField(blank=True, max_length=SYSTEM_PROMPT_MAX_CHARS)
    memory_enabled = models.BooleanField(
        default=True, help_text="Put relevant memories into chat prompts."
    )
    auto_extract = models.BooleanField(
        default=True, help_text="Extract facts from conversations into memories."
    )
    save_chat_memories = models.BooleanField(
        default=True, help_text="Save each finished chat exchange as a memory."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def clean(self) -> None:
        super().clean()
        self.email = self.email.lower()

    def __str__(self) -> str:
        return self.email


class ApiScope(models.TextChoices):
    MEMORIES_READ = "memories:read", "Read memories"
    MEMORIES_WRITE = "memories:write", "Write memories"
    CHAT = "chat", "Chat"
    STORAGE_READ = "storage:read", "Read encrypted storage and backups"
    STORAGE_WRITE = "storage:write", "Write encrypted storage and backups"
    TASKS_READ = "tasks:read", "Read tasks and projects"
    TASKS_WRITE = "tasks:write", "Write tasks and projects"


class ApiKey(models.Model):
    """A personal API key: only its SHA-256 is stored; the key itself is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=32, choices=ApiScope.choices))
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GOOGLE = "google", "Google Gemini"
    XAI = "xai", "xAI"
    OPENROUTER = "openrouter", "OpenRouter"
    CUSTOM = "custom", "Custom OpenAI-compatible"


class ProviderKey(models.Model):
    """A user's own key for an LLM provider, encrypted at rest (see accounts.crypto)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="provider_keys")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    ciphertext = models.TextField(help_text="key id : base64(nonce + AES-256-GCM ciphertext)")
    last_four = models.CharField(max_length=4)
    base_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="one_key_per_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} …{self.last_four}"


class Persona(models.Model):
    """A named system prompt with a default model and temperature, owned by one user: agents,
    chat threads and the OpenAI-compatible endpoint (``X-Engram-Persona``) speak as it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personas")
    name = models.CharField(max_length=100)
    system_prompt = models.TextField(max_length=SYSTEM_PROMPT_MAX_CHARS)
    default_model = models.CharField(max_length=200, blank=True)
    temperature = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(2)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="accounts_persona_unique_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
