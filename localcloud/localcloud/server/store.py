"""State on SQLite: resources as the JSON of their proto message, keyed by message type and id.

    store.put(network)                       # upsert; keeps the creation order
    store.get(Network, 'enp...')             # -> Network or None
    store.list(Network, folder_id=f, name='x', where=lambda n: ...)
    store.delete(Network, 'enp...')
    store.kv_put('ns', 'key', {...}); store.kv_get('ns', 'key')   # anything JSON (bindings, tokens, config)
    with store.transaction(): ...            # read-check-write as one step (re-entrant)

One connection behind one lock: the API is small and calls are short, so there is nothing to gain from
more, and every writer sees the others' writes at once.
"""

import contextlib
import json
import sqlite3
import threading

from google.protobuf import json_format

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    folder_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS resources_by_folder ON resources (kind, folder_id, name);
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (ns, key)
);
"""


def kind_of(message_or_class):
    return message_or_class.DESCRIPTOR.full_name


def _field(message, name):
    return getattr(message, name) if name in message.DESCRIPTOR.fields_by_name else ''


class Store:
    def __init__(self, path):
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.execute('PRAGMA synchronous=NORMAL')
        self._db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self._depth = 0

    def close(self):
        with self.lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self):
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._db.execute('BEGIN IMMEDIATE')
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute('ROLLBACK')
                raise
            self._depth -= 1
            if outer:
                self._db.execute('COMMIT')

    def _query(self, sql, args=()):
        with self.lock:
            return self._db.execute(sql, args).fetchall()

    # -- resources -------------------------------------------------------------------------------
    def put(self, message):
        data = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)
        with self.lock:
            self._db.execute(
                'INSERT INTO resources (kind, id, folder_id, name, data) VALUES (?, ?, ?, ?, ?) '
                'ON CONFLICT (kind, id) DO UPDATE SET folder_id = excluded.folder_id, name = excluded.name, '
                'data = excluded.data',
                (kind_of(message), message.id, _field(message, 'folder_id'), _field(message, 'name'), data))
        return message

    def get(self, cls, resource_id):
        rows = self._query('SELECT data FROM resources WHERE kind = ? AND id = ?', (kind_of(cls), resource_id))
        return self._load(cls, rows[0][0]) if rows else None

    def delete(self, cls, resource_id):
        with self.lock:
            cursor = self._db.execute('DELETE FROM resources WHERE kind = ? AND id = ?', (kind_of(cls), resource_id))
            return cursor.rowcount > 0

    def list(self, cls, folder_id=None, name=None, where=None):
        """Resources of one type in creation order, optionally of one folder / with one name."""
        sql, args = 'SELECT data FROM resources WHERE kind = ?', [kind_of(cls)]
        if folder_id is not None:
            sql += ' AND folder_id = ?'
            args.append(folder_id)
        if name is not None:
            sql += ' AND name = ?'
            args.append(name)
        items = [self._load(cls, row[0]) for row in self._query(sql + ' ORDER BY seq', args)]
        return [item for item in items if where(item)] if where else items

    @staticmethod
    def _load(cls, data):
        # ignore_unknown_fields: a state dir written by a newer SDK's messages still loads.
        return json_format.Parse(data, cls(), ignore_unknown_fields=True)

    # -- free-form JSON values ---------------------------------------------------------------------
    def kv_get(self, ns, key, default=None):
        rows = self._query('SELECT value FROM kv WHERE ns = ? AND key = ?', (ns, key))
        return json.loads(rows[0][0]) if rows else default

    def kv_put(self, ns, key, value):
        with self.lock:
            self._db.execute('INSERT INTO kv (ns, key, value) VALUES (?, ?, ?) '
                             'ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value',
                             (ns, key, json.dumps(value, sort_keys=True)))

    def kv_delete(self, ns, key):
        with self.lock:
            self._db.execute('DELETE FROM kv WHERE ns = ? AND key = ?', (ns, key))

    def kv_items(self, ns):
        return [(key, json.loads(value)) for key, value in
                self._query('SELECT key, value FROM kv WHERE ns = ? ORDER BY key', (ns,))]
