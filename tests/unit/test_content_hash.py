"""The content hash decides whether an image is rebuilt: it must move with content and only with it."""

import os

from ansible_collections.filmopoisk.shs.plugins.module_utils.content_hash import context_hash


def make_tree(root, files):
    for rel, (content, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)


TREE = {'Dockerfile': (b'FROM x\n', 0o644), 'app/run.sh': (b'echo hi\n', 0o755)}


def test_same_content_same_hash_wherever_it_lives(tmp_path):
    make_tree(tmp_path / 'a', TREE)
    make_tree(tmp_path / 'b', TREE)
    assert context_hash(tmp_path / 'a') == context_hash(tmp_path / 'b')
    assert len(context_hash(tmp_path / 'a')) == 12


def test_caches_do_not_count(tmp_path):
    make_tree(tmp_path / 'a', TREE)
    before = context_hash(tmp_path / 'a')
    make_tree(tmp_path / 'a', {'app/__pycache__/run.cpython-311.pyc': (b'junk', 0o644), 'x.pyc': (b'j', 0o644)})
    assert context_hash(tmp_path / 'a') == before


def test_content_exec_bit_name_extra_and_staged_files_all_count(tmp_path):
    make_tree(tmp_path / 'a', TREE)
    base = context_hash(tmp_path / 'a')
    variants = []

    make_tree(tmp_path / 'b', dict(TREE, **{'app/run.sh': (b'echo bye\n', 0o755)}))
    variants.append(context_hash(tmp_path / 'b'))
    make_tree(tmp_path / 'c', dict(TREE, **{'app/run.sh': (b'echo hi\n', 0o644)}))
    variants.append(context_hash(tmp_path / 'c'))
    make_tree(tmp_path / 'd', {'Dockerfile': TREE['Dockerfile'], 'app/start.sh': TREE['app/run.sh']})
    variants.append(context_hash(tmp_path / 'd'))
    variants.append(context_hash(tmp_path / 'a', extra={'BASE_IMAGE': 'sha256:1'}))
    staged = tmp_path / 'bin'
    staged.write_bytes(b'\x7fELF')
    variants.append(context_hash(tmp_path / 'a', extra_files={'staged/bin': str(staged)}))

    assert base not in variants
    assert len(set(variants)) == len(variants)
