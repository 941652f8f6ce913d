"""JSON-lines log at /opt/bongo/logs/<sha1(email)[:10]>/main.log, written in batches.

Request handlers only append a line to an in-memory list; a background task writes the batch
every FLUSH_INTERVAL seconds (one write() per batch), so no request waits on disk I/O.
Lifecycle events (start, startup request, crash, stop) are written at once and also echoed to
stderr (what `docker logs` shows).
"""

import asyncio
import datetime
import json
import os
import socket
import sys

FLUSH_INTERVAL = 0.5
MAX_BUFFERED = 5000  # flush early when this many lines are waiting


class LogDirMissing(Exception):
    pass


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')


class AppLog:
    def __init__(self, directory, echo=True):
        if not os.path.isdir(directory):
            raise LogDirMissing(
                'log directory %s does not exist: create it writable for uid %d '
                '(the real bingo panics here too)' % (directory, os.getuid()))
        self.path = os.path.join(directory, 'main.log')
        try:
            # O_APPEND like bingo; unbuffered at the Python level because we batch ourselves.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise LogDirMissing('cannot open log file %s: %s' % (self.path, exc.strerror))
        self._buf = []
        self._echo = echo
        self._task = None
        self._host = socket.gethostname()
        self._pid = os.getpid()

    def event(self, msg, level='info', **fields):
        """A lifecycle event: written at once and echoed to stderr."""
        line = self._line(msg, level, fields)
        self._buf.append(line)
        if self._echo:
            sys.stderr.write(line)
            sys.stderr.flush()
        self.flush()  # rare and worth having on disk at once (a crash may follow)

    def request(self, **fields):
        """One line per request (not echoed: stderr would cost more than the request itself)."""
        self._buf.append(self._line('request completed', 'info', fields))
        if len(self._buf) >= MAX_BUFFERED:
            self.flush()

    def _line(self, msg, level, fields):
        record = {'timestamp': _now(), 'level': level, 'msg': msg, 'hostname': self._host, 'pid': self._pid}
        record.update(fields)
        return json.dumps(record, default=str, separators=(',', ':')) + '\n'

    def flush(self):
        if not self._buf:
            return
        data = ''.join(self._buf).encode('utf-8')
        self._buf.clear()
        try:
            os.write(self._fd, data)  # one small write to the page cache: microseconds
        except OSError as exc:  # a full disk must not take the service down
            sys.stderr.write('log write failed: %s\n' % exc)

    async def _flusher(self):
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()

    def start(self):
        self._task = asyncio.get_running_loop().create_task(self._flusher())

    async def stop(self):
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.flush()

    def close(self):
        self.flush()
        os.close(self._fd)
