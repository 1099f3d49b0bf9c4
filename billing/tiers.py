"""The subscription tiers and everything each one allows: the one place a tier is spelled out."""

from django.db import models


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    POWER = "power", "Power"
    TEAM = "team", "Team"
