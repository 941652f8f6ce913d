# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Content hash of a build context: the tag an image gets, so unchanged images are not rebuilt.

Pure standard library: used by the collection's modules and by tools/images.py alike.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import stat

# Files that never change what an image contains.
IGNORED_NAMES = frozenset(('__pycache__', '.pytest_cache', '.mypy_cache', '.git', '.DS_Store'))
IGNORED_SUFFIXES = ('.pyc', '.pyo', '.swp', '~')


def _ignored(name):
    return name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES)


def iter_context_files(root):
    """Yield (relative posix path, absolute path) of every file under root, sorted, ignoring caches."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
        for name in sorted(filenames):
            if _ignored(name):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, '/')
            yield rel, full


def _update_with_file(digest, rel, full):
    mode = os.stat(full).st_mode
    executable = b'x' if mode & stat.S_IXUSR else b'-'
    digest.update(rel.encode('utf-8') + b'\0' + executable + b'\0')
    with open(full, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    digest.update(b'\0')


def context_hash(root, extra_files=None, extra=None, length=12):
    """Hash of a directory's files (path, exec bit, content) plus extra inputs.

    extra_files: mapping of context-relative path -> absolute source path for files staged into
    the context at build time (they count as if they were in the directory).
    extra: mapping of str -> str for other inputs (build args, base image id).
    """
    digest = hashlib.sha256()
    files = dict(iter_context_files(root))
    files.update(extra_files or {})
    for rel in sorted(files):
        _update_with_file(digest, rel, files[rel])
    for key in sorted(extra or {}):
        digest.update(('%s=%s\0' % (key, extra[key])).encode('utf-8'))
    return digest.hexdigest()[:length]
