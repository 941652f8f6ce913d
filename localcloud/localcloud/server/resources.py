"""Helpers for services of folder resources (Get/List/Create/Update/Delete with YC's conventions)."""

from google.protobuf import timestamp_pb2

from localcloud.server import validate
from localcloud.server.errors import already_exists


def now():
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def list_page(cloud, cls, request, response_cls, items_field, where=None, filter_fields=('name',)):
    """A List answer: the folder's resources (PERMISSION_DENIED for an unknown folder), filter, paging."""
    cloud.require_folder(request.folder_id)
    wanted = validate.parse_filter(getattr(request, 'filter', ''), filter_fields)
    name = wanted.pop('name', None)

    def match(item):
        return all(str(getattr(item, k)) == v for k, v in wanted.items()) and (where is None or where(item))
    items = cloud.store.list(cls, folder_id=request.folder_id, name=name, where=match)
    page, token = validate.page(items, request.page_size, request.page_token)
    return response_cls(**{items_field: page, 'next_page_token': token})


def ensure_unique_name(cloud, cls, folder_id, name, kind, exclude_id=None):
    """ALREADY_EXISTS when another resource of the type has this (non-empty) name in the folder."""
    if not name:
        return
    if any(item.id != exclude_id for item in cloud.store.list(cls, folder_id=folder_id, name=name)):
        raise already_exists(kind, name)
