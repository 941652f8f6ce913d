"""Update requests and their field masks, with YC's semantics:

- a non-empty update_mask: only the listed fields change (dotted paths reach into message fields);
- an empty update_mask: every updatable field of the request is applied, so fields not set in the request
  are reset to their defaults ("If updateMask is not sent in the request, all fields' values will be
  updated. Fields specified in the request will be updated to provided values. The rest of the fields
  will be reset to the default." -- YC API reference).
"""

from google.protobuf.descriptor import FieldDescriptor

from localcloud.server.errors import invalid


def _is_map(field):
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _is_repeated(field):
    return field.label == FieldDescriptor.LABEL_REPEATED


def updatable_fields(request, *id_fields):
    return [f.name for f in request.DESCRIPTOR.fields if f.name not in id_fields + ('update_mask',)]


def update_paths(request, *id_fields):
    """The paths an Update changes (validated against the request's fields; id_fields name the resource)."""
    updatable = updatable_fields(request, *id_fields)
    paths = list(request.update_mask.paths)
    if not paths:
        return updatable
    for path in paths:
        _walk(request, path, updatable)
    return paths


def _walk(message, path, allowed):
    parts = path.split('.')
    if parts[0] not in allowed:
        raise invalid('update_mask', 'unknown field %r (updatable: %s)' % (path, ', '.join(allowed)))
    descriptor = message.DESCRIPTOR
    for i, part in enumerate(parts):
        field = descriptor.fields_by_name.get(part)
        if field is None:
            raise invalid('update_mask', 'unknown field %r' % path)
        if i < len(parts) - 1:
            if field.type != FieldDescriptor.TYPE_MESSAGE or _is_repeated(field):
                raise invalid('update_mask', '%r: %s has no subfields' % (path, part))
            descriptor = field.message_type
    return parts


def copy_field(source, target, name, target_name=None):
    """target.<target_name> = source.<name>, whole (maps and lists replaced, unset messages cleared)."""
    target_name = target_name or name
    field = source.DESCRIPTOR.fields_by_name[name]
    value = getattr(source, name)
    if _is_map(field):
        target.ClearField(target_name)
        entries = getattr(target, target_name)
        for key, item in value.items():
            if field.message_type.fields_by_name['value'].type == FieldDescriptor.TYPE_MESSAGE:
                entries[key].CopyFrom(item)
            else:
                entries[key] = item
    elif _is_repeated(field):
        target.ClearField(target_name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value:
                getattr(target, target_name).add().CopyFrom(item)
        else:
            getattr(target, target_name).extend(value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        if source.HasField(name):
            getattr(target, target_name).CopyFrom(value)
        else:
            target.ClearField(target_name)
    else:
        setattr(target, target_name, value)


def apply(request, target, paths, skip=()):
    """Copy each path from the request to the resource (same field names); `skip`: paths handled by the caller."""
    for path in paths:
        if path.split('.')[0] in skip:
            continue
        parts = path.split('.')
        source, dest = request, target
        for part in parts[:-1]:
            source, dest = getattr(source, part), getattr(dest, part)
        copy_field(source, dest, parts[-1])


def touches(paths, field):
    return any(p == field or p.startswith(field + '.') for p in paths)
