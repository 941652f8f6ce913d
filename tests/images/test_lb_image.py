"""Smoke test of files/images/lb: nginx + ngx_lua + resty.core serve, run the health checker's Lua, stop fast.

The health checker of the openresty role needs exactly these pieces on both this image and the official
OpenResty image: lua_shared_dict, init_worker_by_lua_block, ngx.timer.at and cosockets (raw HTTP).
"""

import uuid

import pytest
import requests

from support import TEST_LABEL, assert_stops_cleanly, docker, wait_for


def published_port(name, port=80):
    out = docker('port', name, '%d/tcp' % port).stdout.strip().splitlines()[0]
    return int(out.rsplit(':', 1)[1])


def get(port, path):
    return requests.get('http://127.0.0.1:%d%s' % (port, path), timeout=5)


@pytest.fixture(scope='module')
def lb(image):
    """The image with its default config, published on a loopback port: (name, port)."""
    name = 'fp-test-lb-%s' % uuid.uuid4().hex[:8]
    docker('run', '-d', '--label', TEST_LABEL, '--name', name, '-p', '127.0.0.1::80', image('lb'))
    try:
        port = published_port(name)
        wait_for(lambda: get(port, '/').status_code == 200, timeout=15, what='lb answering')
        yield name, port
    finally:
        docker('rm', '-f', '-v', name, check=False)


def test_default_config_passes_nginx_t(lb):
    name, _ = lb
    result = docker('exec', name, 'nginx', '-t', check=False)
    assert result.returncode == 0, result.stderr
    assert 'test is successful' in result.stderr


def test_serves_page_lua_and_status(lb):
    _, port = lb
    page = get(port, '/')
    assert page.status_code == 200
    assert 'filmopoisk lb' in page.text

    # The Lua location loads resty.core and counts hits in a shared dict (shared by all workers).
    first, second = get(port, '/lua'), get(port, '/lua')
    assert first.status_code == second.status_code == 200
    assert 'resty.core 0.1.' in first.text
    hits = [int(r.text.rsplit('hits ', 1)[1]) for r in (first, second)]
    assert hits[1] == hits[0] + 1

    status = get(port, '/nginx-status')
    assert status.status_code == 200
    assert status.text.startswith('Active connections:')
    assert 'server accepts handled requests' in status.text


def test_logs_go_to_docker_logs(lb):
    name, port = lb
    marker = '/no-such-page-%s' % uuid.uuid4().hex[:6]
    assert get(port, marker).status_code == 404
    wait_for(lambda: marker in docker('logs', name).stdout, timeout=5, what='access log line on stdout')


def test_openresty_paths_work(image):
    """Commands and paths written for the official OpenResty image work here too."""
    result = docker('run', '--rm', '--label', TEST_LABEL, image('lb'), '/usr/local/openresty/bin/openresty',
                    '-t', '-c', '/usr/local/openresty/nginx/conf/nginx.conf', check=False)
    assert result.returncode == 0, result.stderr
    result = docker('run', '--rm', '--label', TEST_LABEL, image('lb'), 'test', '-f',
                    '/usr/local/openresty/lualib/resty/core.lua', check=False)
    assert result.returncode == 0


def test_default_container_stops_fast_and_clean(image):
    name = 'fp-test-lb-stop-%s' % uuid.uuid4().hex[:8]
    docker('run', '-d', '--label', TEST_LABEL, '--name', name, '-p', '127.0.0.1::80', image('lb'))
    try:
        port = published_port(name)
        wait_for(lambda: get(port, '/lua').status_code == 200, timeout=15, what='lb answering')
        assert_stops_cleanly(name, within=5, grace=10)
    finally:
        docker('rm', '-f', '-v', name, check=False)


# A health checker the way the openresty role will render one: a timer in worker 0 GETs every peer over a
# cosocket (raw HTTP/1.0, no upstream module), stores the result in a shared dict, and re-arms itself.
# "app1" is resolved through Docker's embedded DNS; "closed" is a loopback port nothing listens on.
CHECKER_CONF = r'''
worker_processes 2;
error_log stderr info;
worker_shutdown_timeout 3s;
include /etc/nginx/modules-enabled/*.conf;

events { worker_connections 256; }

http {
    access_log off;
    lua_package_path "/usr/local/openresty/lualib/?.lua;;";
    lua_shared_dict health 1m;
    resolver 127.0.0.11 ipv6=off valid=1s;
    lua_socket_log_errors off;  # a down peer is a result, not an error-log line per round

    init_worker_by_lua_block {
        local peers = {
            { name = "app1", host = "app1", port = 80 },
            { name = "closed", host = "127.0.0.1", port = 9 },
        }
        local health = ngx.shared.health

        local function probe(peer)
            local sock = ngx.socket.tcp()
            sock:settimeouts(500, 500, 500)
            local ok, err = sock:connect(peer.host, peer.port)
            if not ok then
                return "down " .. tostring(err)
            end
            local _, err = sock:send("GET / HTTP/1.0\r\nHost: " .. peer.host .. "\r\n\r\n")
            local line, err2 = sock:receive("*l")
            sock:close()
            if not line then
                return "down " .. tostring(err or err2)
            end
            local code = line:match("^HTTP/%d%.%d (%d%d%d)")
            return (code == "200" and "up " or "down ") .. tostring(code)
        end

        local check
        check = function(premature)
            if premature then  -- nginx is shutting down: do not re-arm
                return
            end
            for _, peer in ipairs(peers) do
                health:set(peer.name, probe(peer))
            end
            health:incr("rounds", 1, 0)
            local ok, err = ngx.timer.at(0.3, check)
            if not ok then
                ngx.log(ngx.ERR, "cannot re-arm the health check timer: ", err)
            end
        end

        if ngx.worker.id() == 0 then
            assert(ngx.timer.at(0, check))
        end
    }

    server {
        listen 80;
        location = /health {
            default_type text/plain;
            content_by_lua_block {
                local health = ngx.shared.health
                ngx.say("rounds ", health:get("rounds") or 0)
                ngx.say("app1 ", health:get("app1") or "unknown")
                ngx.say("closed ", health:get("closed") or "unknown")
            }
        }
    }
}
'''


def health(port):
    text = get(port, '/health').text
    return dict(line.split(' ', 1) for line in text.strip().splitlines())


def test_health_checker_lua_works(image, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    network, app, checker = 'fp-test-lbnet-' + suffix, 'fp-test-lb-app-' + suffix, 'fp-test-lb-chk-' + suffix
    conf = tmp_path / 'nginx.conf'
    conf.write_text(CHECKER_CONF)
    conf.chmod(0o644)
    mount = '%s:/etc/nginx/nginx.conf:ro' % conf

    check = docker('run', '--rm', '--label', TEST_LABEL, '-v', mount, image('lb'), 'nginx', '-t', check=False)
    assert check.returncode == 0, check.stderr

    docker('network', 'create', '--label', TEST_LABEL, network)
    try:
        # The peer: another lb container with the default config (GET / -> 200).
        docker('run', '-d', '--label', TEST_LABEL, '--name', app, '--network', network, '--network-alias', 'app1',
               image('lb'))
        docker('run', '-d', '--label', TEST_LABEL, '--name', checker, '--network', network,
               '-p', '127.0.0.1::80', '-v', mount, image('lb'))
        port = published_port(checker)

        state = wait_for(lambda: (lambda h: h if h['app1'] == 'up 200' and int(h['rounds']) >= 3 else None)(
            health(port)), timeout=15, what='app1 seen up and the timer re-armed')
        assert state['closed'].startswith('down connection refused'), state

        # The peer goes away: the next rounds see it down (its name no longer resolves).
        docker('rm', '-f', app)
        state = wait_for(lambda: (lambda h: h if h['app1'].startswith('down') else None)(health(port)),
                         timeout=10, what='app1 seen down')
        assert 'could not be resolved' in state['app1'] or 'timeout' in state['app1'], state

        # A pending timer does not hold the graceful shutdown (it runs once more with premature=true).
        assert_stops_cleanly(checker, within=5, grace=10)
        logs = docker('logs', checker)
        for level in ('[emerg]', '[alert]', '[crit]'):
            assert level not in logs.stderr, logs.stderr[-2000:]
    finally:
        docker('rm', '-f', '-v', app, checker, check=False)
        docker('network', 'rm', network, check=False)
