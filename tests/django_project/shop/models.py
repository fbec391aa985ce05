import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

if settings.AUTH_USER_MODEL == "shop.Account":

    class Account(AbstractUser):
        """A custom user model as many projects have: UUID keys, its own
        table (shop_account) and many-to-many tables (account_id)."""

        id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


class Widget(models.Model):
    name = models.CharField(max_length=50)


class Report(models.Model):
    title = models.CharField(max_length=50)
