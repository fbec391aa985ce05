from django.db import models


class Widget(models.Model):
    name = models.CharField(max_length=50)


class Report(models.Model):
    title = models.CharField(max_length=50)
