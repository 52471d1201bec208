# The media of post images (EXTENSIONS.md §7, issue #24): sizes, blurhash, WebP variants.

import posts.models
from django.db import migrations, models


def _size():
    return models.PositiveIntegerField(blank=True, null=True)


def _variant():
    return models.ImageField(blank=True, default="", max_length=255, upload_to=posts.models.post_image_path)


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0005_comments'),
    ]

    operations = [
        migrations.AddField(model_name='postimage', name='width', field=_size()),
        migrations.AddField(model_name='postimage', name='height', field=_size()),
        migrations.AddField(
            model_name='postimage', name='blurhash', field=models.CharField(blank=True, default='', max_length=64)
        ),
        migrations.AddField(model_name='postimage', name='thumb', field=_variant()),
        migrations.AddField(model_name='postimage', name='thumb_width', field=_size()),
        migrations.AddField(model_name='postimage', name='thumb_height', field=_size()),
        migrations.AddField(model_name='postimage', name='medium', field=_variant()),
        migrations.AddField(model_name='postimage', name='medium_width', field=_size()),
        migrations.AddField(model_name='postimage', name='medium_height', field=_size()),
    ]
