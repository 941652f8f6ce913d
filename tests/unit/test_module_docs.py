"""tools/module_docs.py: the plugin reference in docs/modules/ is rendered from the plugins' own docs, complete."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = os.path.join(ROOT, 'docs', 'modules')
_spec = importlib.util.spec_from_file_location('module_docs', os.path.join(ROOT, 'tools', 'module_docs.py'))
module_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(module_docs)

# Shaped like `ansible-doc --json -t module` output (doc fragments already merged).
WIDGET = {
    'doc': {
        'module': 'yc_widget',
        'collection': 'filmopoisk.shs',
        'filename': '/x/.collections/ansible_collections/filmopoisk/shs/plugins/modules/yc_widget.py',
        'short_description': 'Manage a widget',
        'version_added': '0.4.0',
        'version_added_collection': 'filmopoisk.shs',
        'description': ['Create or delete a widget, found by O(name).',
                        'Uses M(filmopoisk.shs.yc_network) and O(filmopoisk.shs.yc_subnet#module:route_table_id); '
                        'never M(amazon.aws.ec2_vpc_net). A label like app=<name> stays visible.'],
        'requirements': ['yandexcloud >= 0.413.0'],
        'options': {
            'name': {'description': 'Widget name.', 'type': 'str', 'required': True},
            'state': {'description': 'V(absent) deletes it.', 'type': 'str', 'choices': ['present', 'absent'],
                      'default': 'present'},
            'folder_id': {'description': ['Folder. Falls back to E(YC_FOLDER_ID).'], 'type': 'str',
                          'env': [{'name': 'YC_FOLDER_ID'}]},
            'spec': {'description': 'The spec (a|b).', 'type': 'list', 'elements': 'dict', 'suboptions': {
                'size': {'description': 'Size in GB.', 'type': 'int', 'default': 30},
                'disk': {'description': 'Disk.', 'type': 'dict', 'suboptions': {
                    'type': {'description': 'C(network-hdd) or C(network-ssd).', 'type': 'str'}}},
            }},
        },
        'attributes': {'check_mode': {'description': 'Can run in check_mode.', 'support': 'full'},
                       'action_group': {'description': 'In an action group.', 'membership': ['filmopoisk.shs.yc'],
                                        'support': 'N/A'}},
        'notes': ['See U(https://yandex.cloud/en/docs/).'],
        'seealso': [{'module': 'filmopoisk.shs.yc_subnet', 'description': 'Its subnet.'}],
        'author': ['filmopoisk.shs contributors (@filmopoisk)'],
    },
    'examples': '\n- name: A widget\n  filmopoisk.shs.yc_widget:\n    name: w1\n',
    'return': {
        'widget': {'description': 'The widget after the run.', 'returned': 'always', 'type': 'dict', 'contains': {
            'id': {'description': 'Its ID.', 'type': 'str', 'sample': 'wid123'},
            'sizes': {'description': 'Sizes.', 'type': 'list', 'elements': 'int', 'sample': [1, 2]}}},
        'operation_id': {'description': 'The operation, RV(widget) aside.', 'returned': 'when written', 'type': 'str'},
    },
    'metadata': None,
}


def sections(page):
    return [line[3:] for line in page.splitlines() if line.startswith('## ')]


def row(page, name):
    """The table row of option/return `name` (dotted for suboptions)."""
    rows = [line for line in page.splitlines() if line.startswith(f'| `{name}`<br>')]
    assert len(rows) == 1, (name, rows)
    return rows[0]


def test_module_page_has_the_sections_of_its_doc_in_order():
    page = module_docs.render_plugin('filmopoisk.shs.yc_widget', 'module', WIDGET, has_action_file=True)
    assert page.startswith(module_docs.GENERATED + '\n\n# filmopoisk.shs.yc_widget\n\nManage a widget\n')
    assert 'Source: `plugins/modules/yc_widget.py`; added in version 0.4.0 of filmopoisk.shs.' in page
    assert 'has an action plugin (`plugins/action/yc_widget.py`)' in page
    assert sections(page) == ['Synopsis', 'Requirements', 'Parameters', 'Attributes', 'Notes', 'See also', 'Examples',
                              'Return values', 'Authors']
    assert '- yandexcloud &gt;= 0.413.0' in page


def test_module_page_options_table():
    page = module_docs.render_plugin('filmopoisk.shs.yc_widget', 'module', WIDGET)
    assert 'action plugin' not in page
    assert row(page, 'name') == '| `name`<br>*str* / **required** | Widget name. |'
    assert row(page, 'state') == ('| `state`<br>*str* | `absent` deletes it.<br><br>Choices: `present`, `absent`'
                                  '<br><br>Default: `present` |')
    assert 'Configuration: env: `YC_FOLDER_ID`' in row(page, 'folder_id')
    # Suboptions follow their parent, by dotted path; a pipe in a description does not split the table cell.
    assert row(page, 'spec') == '| `spec`<br>*list / elements=dict* | The spec (a\\|b). |'
    assert row(page, 'spec.size').endswith('Size in GB.<br><br>Default: `30` |')
    assert 'C(' not in row(page, 'spec.disk.type') and '`network-ssd`' in row(page, 'spec.disk.type')
    names = [line.split('`')[1] for line in page.splitlines() if line.startswith('| `')]
    options = names[:names.index('action_group')]
    assert options == ['folder_id', 'name', 'spec', 'spec.disk', 'spec.disk.type', 'spec.size', 'state']


def test_module_page_markup_links_and_returns():
    page = module_docs.render_plugin('filmopoisk.shs.yc_widget', 'module', WIDGET)
    synopsis = page.split('## Synopsis\n\n', 1)[1].split('\n## ', 1)[0]
    assert synopsis.startswith('Create or delete a widget, found by `name`.\n\n')
    # This collection's plugins are linked to their pages; other collections' are named only.
    assert '[`filmopoisk.shs.yc_network`](yc_network_module.md)' in synopsis
    assert '[`route_table_id`](yc_subnet_module.md)' in synopsis
    assert '`amazon.aws.ec2_vpc_net`' in synopsis and '(ec2_vpc_net_module.md)' not in synopsis
    assert 'app=&lt;name&gt; stays visible' in synopsis  # not an HTML tag that a renderer would drop
    assert '- See <https://yandex.cloud/en/docs/>.' in page
    assert '- [`filmopoisk.shs.yc_subnet`](yc_subnet_module.md): Its subnet.' in page
    assert '```yaml\n- name: A widget\n  filmopoisk.shs.yc_widget:\n    name: w1\n```' in page
    assert row(page, 'widget') == '| `widget`<br>*dict* | The widget after the run.<br><br>Returned: always |'
    assert row(page, 'widget.id') == '| `widget.id`<br>*str* | Its ID.<br><br>Sample: `"wid123"` |'
    assert 'Sample: `[1, 2]`' in row(page, 'widget.sizes')
    assert 'The operation, `widget` aside.' in row(page, 'operation_id')
    assert '| `check_mode` | full | Can run in check_mode. |' in page
    assert '| `action_group` | action groups: `filmopoisk.shs.yc` |' in page


@pytest.mark.parametrize('text, markdown', [
    ('C(a) I(b) B(c) V(d) E(E_F) RV(g)', '`a` *b* **c** `d` `E_F` `g`'),
    (r'V(a\)b) O(x=y\\z)', r'`a)b` `x=y\z`'),
    ('L(the docs, https://yandex.cloud) R(a ref, some_anchor)', '[the docs](https://yandex.cloud) a ref'),
    ('P(filmopoisk.shs.yc_compute#inventory) P(community.docker.docker_host_info#module)',
     '[`filmopoisk.shs.yc_compute`](yc_compute_inventory.md) `community.docker.docker_host_info`'),
    ('C(a`b) and *stars* and SHS_* and a\\b', '``a`b`` and \\*stars\\* and SHS_\\* and a\\\\b'),
    ('one HORIZONTALLINE two', 'one <hr> two'),
    ('C(unclosed', 'C(unclosed'),
])
def test_markup(text, markdown):
    assert module_docs.markup(text) == markdown


def test_role_page_and_index():
    role = {'collection': 'filmopoisk.shs', 'entry_points': {
        'main': {'short_description': 'Render a fragment', 'description': ['Sets C(x_payload).'],
                 'options': {'x_port': {'description': 'Port. Range 1-65535.', 'type': 'int', 'default': 80}}},
        'extra': {'short_description': 'Another entry point'}}}
    page = module_docs.render_role('filmopoisk.shs.x', role)
    assert page.startswith(module_docs.GENERATED + '\n\n# filmopoisk.shs.x (role)\n\nRender a fragment\n')
    assert sections(page) == ['Entry point `main`', 'Entry point `extra`']
    assert row(page, 'x_port') == '| `x_port`<br>*int* | Port. Range 1-65535.<br><br>Default: `80` |'
    pages = module_docs.render_all({'module': {'yc_widget': WIDGET}, 'role': {'x': role}})
    assert sorted(pages) == ['index.md', 'x_role.md', 'yc_widget_module.md']
    index = pages['index.md']
    assert sections(index) == ['Modules', 'Roles']
    assert '| [`filmopoisk.shs.yc_widget`](yc_widget_module.md) | Manage a widget |' in index
    assert '| [`filmopoisk.shs.x`](x_role.md) | Render a fragment |' in index


def _stems(directory):
    path = os.path.join(ROOT, 'plugins', directory)
    if not os.path.isdir(path):
        return []
    return sorted(f[:-3] for f in os.listdir(path) if f.endswith('.py') and not f.startswith('_'))


def _read(name):
    with open(os.path.join(PAGES, name), encoding='utf-8') as f:
        return f.read()


def test_every_plugin_in_plugins_has_a_page():
    with open(os.path.join(PAGES, 'index.md'), encoding='utf-8') as f:
        index = f.read()
    pages = set(os.listdir(PAGES))
    wanted = {}
    for stem in _stems('modules'):
        wanted[f'{stem}_module.md'] = f'plugins/modules/{stem}.py'
    for stem in _stems('inventory'):
        wanted[f'{stem}_inventory.md'] = f'plugins/inventory/{stem}.py'
    for directory, kind in (('lookup', 'lookup'), ('callback', 'callback'), ('connection', 'connection')):
        for stem in _stems(directory):
            wanted[f'{stem}_{kind}.md'] = f'plugins/{directory}/{stem}.py'
    assert wanted, 'no plugins found'
    for name, source in wanted.items():
        assert name in pages, f'{source} has no page docs/modules/{name}: run tools/module_docs.py'
        assert f'Source: `{source}`' in _read(name)
        assert f']({name})' in index
    # A filter/test file may hold several plugins: each file is the source of at least one page.
    for directory, kind in (('filter', 'filter'), ('test', 'test')):
        for stem in _stems(directory):
            sources = [p for p in pages if p.endswith(f'_{kind}.md')
                       and f'Source: `plugins/{directory}/{stem}.py`' in _read(p)]
            assert sources, f'plugins/{directory}/{stem}.py has no page: run tools/module_docs.py'
            assert all(f']({p})' in index for p in sources)
    # An action plugin has no docs of its own: the page of the module it runs says it is there.
    for stem in _stems('action'):
        assert f'has an action plugin (`plugins/action/{stem}.py`)' in _read(f'{stem}_module.md')
    for role in sorted(os.listdir(os.path.join(ROOT, 'roles'))):
        if os.path.isfile(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')):
            assert f'{role}_role.md' in pages and f']({role}_role.md)' in index


def test_pages_are_what_the_plugins_docs_render_now():
    """The committed pages match `ansible-doc --json` of the plugins as they are (nothing stale, missing, extra)."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'module_docs.py'), '--check'], cwd=ROOT,
                          text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_links_in_the_reference_and_the_guides_resolve():
    """Every relative link of docs/modules/ (M(), P(), O() of this collection become links) and of the guides that
    point into it names a file that exists: a plugin doc referring to a plugin that is not there shows up here."""
    docs = os.path.join(ROOT, 'docs')
    files = [os.path.join(PAGES, f) for f in sorted(os.listdir(PAGES)) if f.endswith('.md')]
    files += [os.path.join(docs, f) for f in ('quickstart.md', 'yandex-cloud.md', 'troubleshooting.md')]
    broken = []
    for path in files:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if re.match(r'[a-z][a-z0-9+.-]*:', target) or target.startswith('#'):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), target.split('#')[0]))):
                broken.append('%s -> %s' % (os.path.relpath(path, ROOT), target))
    assert broken == []
