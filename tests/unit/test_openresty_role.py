"""Role openresty renders a payload fragment: compose service, nginx.conf, Lua, TLS; deterministic; bad vars named."""

import pathlib
import re
import subprocess

import pytest
import yaml

from support import render_role

PEERS = ['shs-1.ru-central1.internal', 'shs-2.ru-central1.internal']
LUA_DIR = pathlib.Path(__file__).resolve().parents[2] / 'roles' / 'openresty' / 'files' / 'lua' / 'filmopoisk'
LUA_MODULES = ('settings', 'dns', 'probe', 'healthcheck', 'balancer', 'status', 'metrics', 'prefetch', 'drain')


def good(tmp_path, **extra):
    role_vars = {'openresty_upstream_peers': PEERS, 'openresty_tls_selfsigned_dir': str(tmp_path / 'tls'),
                 'openresty_status_allow': ['127.0.0.1/32', '10.128.0.0/24']}
    role_vars.update(extra)
    return role_vars


def files(payload):
    return {f['path']: f for f in payload['files']}


def test_payload_layout(tmp_path):
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(tmp_path))
    assert set(payload) == {'name', 'compose', 'files'}
    service = payload['compose']['services']['openresty']
    assert service['image'] == 'filmopoisk/lb:latest'
    assert service['ports'] == ['80:80', '443:443']
    assert service['restart'] == 'always' and service['init'] is True and service['stop_signal'] == 'SIGQUIT'
    assert '/etc/filmopoisk/openresty/nginx.conf:/etc/nginx/nginx.conf:ro' in service['volumes']
    assert service['tmpfs'][0].startswith('/var/cache/filmopoisk:')
    by_path = files(payload)
    # The Lua library: one module per concern, each shipped as it is in the role.
    assert sorted(by_path) == sorted('/etc/filmopoisk/openresty/' + p for p in (
        'nginx.conf', 'openresty-entrypoint.sh', 'tls/server.crt', 'tls/server.key',
        *('lua/filmopoisk/%s.lua' % m for m in LUA_MODULES)))
    # The entrypoint: the graceful stop drains kept-alive clients for openresty_drain_seconds first.
    assert by_path['/etc/filmopoisk/openresty/openresty-entrypoint.sh']['permissions'] == '0755'
    assert service['entrypoint'] == ['/etc/filmopoisk/openresty/openresty-entrypoint.sh']
    assert service['environment'] == {'DRAIN_SECONDS': '3'}
    assert sorted(p.name for p in LUA_DIR.iterdir()) == sorted(m + '.lua' for m in LUA_MODULES)
    for module in LUA_MODULES:
        shipped = by_path['/etc/filmopoisk/openresty/lua/filmopoisk/%s.lua' % module]
        assert shipped['content'] == (LUA_DIR / (module + '.lua')).read_text() and shipped['permissions'] == '0644'
    assert by_path['/etc/filmopoisk/openresty/tls/server.key']['permissions'] == '0600'
    assert 'BEGIN CERTIFICATE' in by_path['/etc/filmopoisk/openresty/tls/server.crt']['content']
    assert 'ngx.socket.tcp' in by_path['/etc/filmopoisk/openresty/lua/filmopoisk/probe.lua']['content']
    assert 'ngx.socket.udp' in by_path['/etc/filmopoisk/openresty/lua/filmopoisk/dns.lua']['content']
    # The self-signed pair is a real certificate for the configured name.
    cert = subprocess.run(['openssl', 'x509', '-noout', '-text'], input=by_path['/etc/filmopoisk/openresty/tls/server.crt']['content'],
                          text=True, capture_output=True, check=True).stdout
    assert 'DNS:localhost' in cert


def test_nginx_conf_contents(tmp_path):
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(tmp_path, openresty_cache_ttl=30))
    conf = files(payload)['/etc/filmopoisk/openresty/nginx.conf']['content']
    assert 'load_module modules/ndk_http_module.so;\nload_module modules/ngx_http_lua_module.so;' in conf
    for peer in PEERS:
        assert '{ name = "%s", host = "%s", port = 80 }' % (peer, peer) in conf
    for line in ('http_req = "GET /ping HTTP/1.0\\r\\nHost: shs\\r\\n\\r\\n",', 'interval = 2000,', 'timeout = 1000,',
                 'fall = 3,', 'rise = 2,', 'valid_statuses = { 200 },', 'concurrency = 10,'):
        assert line in conf, line
    # Every setting of the checker is passed (its schema has no defaults: those are the role's).
    init = conf.split('healthcheck.new({', 1)[1].split('}, limits))', 1)[0]
    schema = (LUA_DIR / 'healthcheck.lua').read_text().split('M.SCHEMA = {', 1)[1].split('\nlocal ', 1)[0]
    top_level = set(re.findall(r'^        (\w+) = ', schema, re.M))
    assert top_level == set(re.findall(r'^            (\w+) = ', init, re.M)) and len(top_level) == 14
    for line in ('name = "shs",', 'shm = "filmopoisk_health",', 'passive_fall = 3,', 'resolvers = {  },',
                 'resolv_conf = "/etc/resolv.conf",'):
        assert line in init, line
    assert 'balance("shs")' in conf and 'page("shs")' in conf and 'metrics").page("filmopoisk_metrics")' in conf
    assert 'balancer_by_lua_block' in conf
    assert 'proxy_next_upstream error timeout http_502 http_503 http_504 http_429;' in conf
    assert 'non_idempotent' not in conf.replace('(no "non_idempotent")', '')
    # TTL 30: fresh 11 s (+1, nginx's whole-second clock), then stale for 17 s (the longest refresh: 5 s in line
    # for a peer with room, then 2 peers x (1 + 5) s) while it is refreshed; 11 + 17 = TTL - 2.
    assert 'proxy_cache_valid 200 11s;' in conf and 'inactive=30s' in conf
    assert '200 "max-age=11, stale-while-revalidate=17";' in conf
    assert 'proxy_cache_lock on;' in conf and 'proxy_cache_background_update on;' in conf
    # nginx's use_stale "updating" would serve a stale entry for as long as the peers fail
    assert 'proxy_cache_use_stale' not in conf
    assert 'add_header X-Cache-Status $upstream_cache_status always;' in conf
    # the client's location and the refresh server's (filmopoisk.prefetch)
    assert conf.count('proxy_cache long_dummy;') == 2 and conf.count('location = /long_dummy {') == 2
    assert 'access_log /dev/stdout filmopoisk buffer=64k flush=1s;' in conf
    assert 'ssl_protocols TLSv1.2 TLSv1.3;' in conf and 'listen 443 ssl http2;' in conf and 'listen 80;' in conf
    assert 'quic' not in conf and 'return 308' not in conf
    for path in ('/nginx-status', '/hck_status', '/metrics'):
        block = conf.split('location = %s {' % path, 1)[1].split('}', 1)[0]
        assert 'allow 127.0.0.1/32;\n            allow 10.128.0.0/24;\n            deny all;' in block, path
    assert 'stub_status;' in conf


def test_openresty_flavour_http3_and_redirect(tmp_path):
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(
        tmp_path, openresty_flavour='openresty', openresty_http3=True, openresty_https_redirect=True,
        openresty_image='openresty/openresty:bookworm'))
    conf = files(payload)['/etc/filmopoisk/openresty/nginx.conf']['content']
    assert 'load_module' not in conf and '/usr/share/lua/5.1' not in conf
    assert 'listen 443 quic reuseport;' in conf and "Alt-Svc 'h3=\":443\"; ma=86400'" in conf
    assert 'return 308 https://$host$request_uri;' in conf
    assert conf.split('location = /nginx-status {', 1)[1].split('}', 1)[0].count('return') == 0
    service = payload['compose']['services']['openresty']
    assert '443:443/udp' in service['ports']
    assert '/etc/filmopoisk/openresty/nginx.conf:/usr/local/openresty/nginx/conf/nginx.conf:ro' in service['volumes']


def test_given_tls_pair_is_used(tmp_path):
    _, first = render_role(tmp_path, 'openresty', 'openresty_payload', good(tmp_path))
    cert = files(first)['/etc/filmopoisk/openresty/tls/server.crt']['content']
    key = files(first)['/etc/filmopoisk/openresty/tls/server.key']['content']
    (tmp_path / 'x').mkdir()
    result, payload = render_role(tmp_path / 'x', 'openresty', 'openresty_payload', good(
        tmp_path / 'x', openresty_tls_certificate=cert, openresty_tls_private_key=key))
    assert not (tmp_path / 'x' / 'tls').exists()  # nothing generated
    assert files(payload)['/etc/filmopoisk/openresty/tls/server.key']['content'] == key
    assert key.split('\n')[1] not in result.stdout  # the key is never printed


def test_rendering_is_deterministic(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    role_vars = good(tmp_path)  # one self-signed dir: generated on the first run, reused on the second
    _, first = render_role(tmp_path / 'a', 'openresty', 'openresty_payload', role_vars)
    _, second = render_role(tmp_path / 'b', 'openresty', 'openresty_payload', role_vars)
    assert (tmp_path / 'a' / 'openresty_payload.json').read_bytes() == (tmp_path / 'b' / 'openresty_payload.json').read_bytes()
    assert first == second


@pytest.mark.parametrize('bad,named', [
    ({'openresty_cache_ttl': 61}, 'openresty_cache_ttl'),
    ({'openresty_cache_ttl': 'soon'}, 'openresty_cache_ttl'),
    ({'openresty_status_allow': ['10.0.0.0/33']}, 'openresty_status_allow'),
    ({'openresty_status_allow': ['everyone']}, 'openresty_status_allow'),
    ({'openresty_upstream_peers': []}, 'openresty_upstream_peers'),
    ({'openresty_upstream_peers': ['bad host']}, 'openresty_upstream_peers'),
    ({'openresty_healthcheck_http_req': 'GET /ping'}, 'openresty_healthcheck_http_req'),
    ({'openresty_healthcheck_timeout': 5000}, 'openresty_healthcheck_timeout'),
    ({'openresty_healthcheck_valid_statuses': [700]}, 'openresty_healthcheck_valid_statuses'),
    ({'openresty_flavour': 'alpine'}, 'openresty_flavour'),
    ({'openresty_http3': True}, 'openresty_http3'),
    ({'openresty_tls_certificate': '-----BEGIN CERTIFICATE-----\n'}, 'openresty_tls_private_key'),
    ({'openresty_resolvers': ['dns.example']}, 'openresty_resolvers'),
    ({'openresty_resolvers': ['256.0.0.1']}, 'openresty_resolvers'),
    ({'openresty_upstream_port': 0}, 'openresty_upstream_port'),
    ({'openresty_tls_selfsigned_names': ['bad_name']}, 'openresty_tls_selfsigned_names'),
])
def test_bad_vars_fail_naming_the_variable(tmp_path, bad, named):
    result, value = render_role(tmp_path, 'openresty', 'openresty_payload', dict(good(tmp_path), **bad), check=False)
    assert result.returncode != 0 and value is None
    assert named in result.stdout + result.stderr


def test_the_role_says_what_its_group_needs(tmp_path):
    """openresty_group next to openresty_payload: the VM ports and the health check on the status page."""
    _, group = render_role(tmp_path, 'openresty', 'openresty_group', good(
        tmp_path, openresty_http_port=8000, openresty_https_port=8443, openresty_status_path='/lb-status'))
    assert group == {'ports': [8000, 8443], 'health_check': {'http_options': {'port': 8000, 'path': '/lb-status'}}}


def test_the_checker_limits_are_written_once_in_the_role(tmp_path):
    """vars/main.yml holds the health checker's limits; nginx.conf hands that table to the Lua library, whose
    schema has types only (no numbers of its own), and the role checks its variables against the same table."""
    limits = yaml.safe_load((LUA_DIR.parents[2] / 'vars' / 'main.yml').read_text())['openresty__limits']
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(tmp_path))
    conf = files(payload)['/etc/filmopoisk/openresty/nginx.conf']['content']
    block = conf.split('local limits = {\n', 1)[1].split('\n        }\n', 1)[0]
    rendered = {name: {'min': int(low), 'max': int(high)}
                for name, low, high in re.findall(r'^            (\w+) = \{ min = (\d+), max = (\d+) \},$', block, re.M)}
    assert rendered == limits and len(block.splitlines()) == len(limits)
    assert '}, limits))' in conf
    lua = (LUA_DIR / 'healthcheck.lua').read_text() + (LUA_DIR / 'settings.lua').read_text()
    assert not re.search(r'\bint\(\s*\d', lua) and not re.search(r'\b(min|max)\s*=\s*\d', lua)
    # The role's own check uses the table: the limit passes, one past it fails naming the variable.
    top = limits['fall']['max']
    (tmp_path / 'ok').mkdir()
    render_role(tmp_path / 'ok', 'openresty', 'openresty_payload', good(tmp_path, openresty_healthcheck_fall=top))
    (tmp_path / 'bad').mkdir()
    result, _ = render_role(tmp_path / 'bad', 'openresty', 'openresty_payload',
                            good(tmp_path, openresty_healthcheck_fall=top + 1), check=False)
    assert result.returncode != 0 and 'openresty_healthcheck_fall must be 1-%d' % top in result.stdout + result.stderr


@pytest.mark.parametrize('bad,message', [
    ({'openresty_retry_post_paths': ['operation']}, 'openresty_retry_post_paths must be exact paths'),
    ({'openresty_retry_post_paths': ['/oper ation']}, 'openresty_retry_post_paths must be exact paths'),
    ({'openresty_retry_post_paths': ['/api/session/.*']}, 'openresty_retry_post_paths must be exact paths'),
    ({'openresty_retry_post_paths': ['~ ^/operation']}, 'openresty_retry_post_paths must be exact paths'),
    ({'openresty_retry_post_paths': ['/operation', '/operation']}, 'openresty_retry_post_paths has duplicates'),
    ({'openresty_retry_post_paths': ['/nginx-status']}, "openresty_retry_post_paths must not hold the LB's own paths"),
    ({'openresty_retry_post_paths': ['/long_dummy']}, "openresty_retry_post_paths must not hold the LB's own paths"),
    ({'openresty_retry_post_paths': '/operation'}, 'openresty_retry_post_paths'),
    ({'openresty_peer_rps_limit': -1}, 'openresty_peer_rps_limit must be 0 (no limit)'),
    ({'openresty_peer_rps_limit': 'lots'}, 'openresty_peer_rps_limit'),
    ({'openresty_peer_queue_timeout': -1}, 'openresty_peer_queue_timeout must be 0 (no queue) to 60 seconds'),
    ({'openresty_peer_queue_timeout': 61}, 'openresty_peer_queue_timeout must be 0 (no queue) to 60 seconds'),
    ({'openresty_peer_queue_timeout': 'soon'}, 'openresty_peer_queue_timeout'),
    ({'openresty_lb_nodes': ['lb one']}, 'openresty_lb_nodes must be host names or IPv4 addresses'),
    ({'openresty_lb_nodes': ['lb-1', 'lb-1']}, 'openresty_lb_nodes has duplicates'),
    ({'openresty_lb_nodes': 'lb-1'}, 'openresty_lb_nodes'),
    ({'openresty_retry_post_paths': ['/lb-alive']}, "openresty_retry_post_paths must not hold the LB's own paths"),
])
def test_bad_zero_downtime_vars_fail_naming_the_variable(tmp_path, bad, message):
    result, value = render_role(tmp_path, 'openresty', 'openresty_payload', dict(good(tmp_path), **bad), check=False)
    assert result.returncode != 0 and value is None
    assert message in result.stdout + result.stderr


def test_retry_post_paths_get_a_location_that_resends_posts(tmp_path):
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(
        tmp_path, openresty_retry_post_paths=['/operation', '/api/v2/op_1.x~y']))
    conf = files(payload)['/etc/filmopoisk/openresty/nginx.conf']['content']
    for path in ('/operation', '/api/v2/op_1.x~y'):
        block = conf.split('location = %s {' % path, 1)[1].split('\n        }\n', 1)[0]
        assert 'proxy_next_upstream error timeout http_502 http_503 http_504 http_429 non_idempotent;' in block
        assert 'proxy_pass http://shs;' in block and 'admit("shs")' in block
    assert conf.count('non_idempotent;') == 2  # only there


def budget_settings(conf):
    block = conf.split('require("filmopoisk.balancer").configure("shs", {', 1)[1].split('})', 1)[0]
    return dict(re.findall(r'^\s+(\w+) = (.+),$', block, re.M))


@pytest.mark.parametrize('extra,limit,probes,queue', [
    ({}, '100', '1', '5.0'),
    ({'openresty_peer_rps_limit': 20}, '20', '1', '5.0'),
    ({'openresty_peer_rps_limit': 20, 'openresty_healthcheck_interval': 300, 'openresty_healthcheck_timeout': 200},
     '20', '4', '5.0'),
    ({'openresty_peer_rps_limit': 0}, '0', '1', '5.0'),
    ({'openresty_peer_queue_timeout': 0}, '100', '1', '0.0'),
    ({'openresty_peer_queue_timeout': '2.5'}, '100', '1', '2.5'),
])
def test_the_peer_budget_leaves_room_for_the_probes(tmp_path, extra, limit, probes, queue):
    """The peer counts the LB's health probes in its limit too: the balancer takes the probes a second off the
    limit (0: no budget, no access check answers 429); a request finding no room waits in line up to
    openresty_peer_queue_timeout. Without openresty_lb_nodes this node takes the whole limit (no share)."""
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(tmp_path, **extra))
    conf = files(payload)['/etc/filmopoisk/openresty/nginx.conf']['content']
    assert budget_settings(conf) == {'shm': '"filmopoisk_rps"', 'limit': limit, 'probes': probes, 'queue': queue,
                                     'share': 'nil'}
    assert 'balance("shs")' in conf
    assert conf.count('admit("shs")') == 2  # location / and the cache's fill server
    assert 'lua_shared_dict filmopoisk_rps 1m;' in conf
    assert conf.count('healthcheck.new({') == 1


def test_lb_nodes_check_each_other_and_share_the_peers_limit(tmp_path):
    """openresty_lb_nodes: a second checker ("lb") probes every LB node's /lb-alive on the HTTP port each second and
    keeps its answer (the node's load), and the budget shares the peers' limit among the nodes it finds up;
    /lb-alive answers without the status pages' allow list (the nodes' addresses need not be in it)."""
    nodes = ['shs-lb-1.ru-central1.internal', 'shs-lb-2.ru-central1.internal']
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(
        tmp_path, openresty_lb_nodes=nodes, openresty_peer_rps_limit=98, openresty_http_port=8080))
    conf = files(payload)['/etc/filmopoisk/openresty/nginx.conf']['content']
    assert budget_settings(conf)['share'] == '"lb"' and budget_settings(conf)['limit'] == '98'
    checker = conf.split('healthcheck.new({', 2)[2].split('}, limits))', 1)[0]
    assert 'name = "lb",' in checker
    for node in nodes:
        assert '{ name = "%s", host = "%s", port = 8080 }' % (node, node) in checker
    for line in ('http_req = "GET /lb-alive HTTP/1.0\\r\\nHost: lb\\r\\n\\r\\n",', 'interval = 1000,',
                 'timeout = 500,', 'fall = 2,', 'passive_fall = 0,', 'body_bytes = 64,'):
        assert line in checker, line
    block = conf.split('location = /lb-alive {', 1)[1].split('}\n        }', 1)[0]
    assert 'require("filmopoisk.balancer").alive("shs")' in block and 'allow' not in block and 'deny' not in block
    assert 'body_bytes = 0,' in conf.split('healthcheck.new({', 2)[1]  # the app's checker reads no body


@pytest.mark.parametrize('extra,valid,stale,longest', [
    ({}, 41, 17, 17),                                       # the queue's 5 s + 2 peers x (1 + 5) s
    ({'openresty_peer_queue_timeout': 0}, 46, 12, 12),      # no queue
    ({'openresty_peer_rps_limit': 0}, 46, 12, 12),          # no budget, so no queue
    ({'openresty_peer_queue_timeout': 0.5}, 45, 13, 13),    # whole seconds
    ({'openresty_cache_ttl': 10, 'openresty_proxy_read_timeout': 2, 'openresty_proxy_next_upstream_timeout': 3},
     1, 7, 11),                                             # 5 + min(2 x 3, 3 + 3)
    ({'openresty_cache_ttl': 6}, 1, 3, 17),                 # short TTL: the stale window is what is left
    ({'openresty_cache_ttl': 2}, 1, 0, 17),                 # the shortest: no stale serving
    ({'openresty_upstream_peers': PEERS + ['shs-3.ru-central1.internal'], 'openresty_proxy_next_upstream_timeout': 0},
     35, 23, 23),                                           # 5 + 3 peers, unbounded retries
])
def test_cache_timings_keep_every_response_within_the_ttl(tmp_path, extra, valid, stale, longest):
    """valid + stale = TTL - 2 (nginx's whole-second clock, transit), the stale window covers the longest refresh
    when the TTL allows; the graceful stop waits for the longest request (worker_shutdown_timeout, then the
    compose service's stop_grace_period)."""
    _, payload = render_role(tmp_path, 'openresty', 'openresty_payload', good(tmp_path, **extra))
    conf = files(payload)['/etc/filmopoisk/openresty/nginx.conf']['content']
    assert 'proxy_cache_valid 200 %ds;' % valid in conf
    assert '200 "max-age=%d, stale-while-revalidate=%d";' % (valid, stale) in conf
    assert 'worker_shutdown_timeout %ds;' % (longest + 1) in conf
    # refreshed from a timer 3 s before it expires (at once for a shorter validity), one refresh per entry at a time
    assert ('require("filmopoisk.prefetch").log("filmopoisk_prefetch", "unix:/run/filmopoisk-cache-refresh.sock", %d, %d)'
            % (max(valid - 3, 0), longest + 2)) in conf
    service = payload['compose']['services']['openresty']
    # + openresty_drain_seconds (3) of "Connection: close" answers before nginx's own graceful stop
    assert service['stop_signal'] == 'SIGQUIT' and service['stop_grace_period'] == '%ds' % (3 + longest + 6)
