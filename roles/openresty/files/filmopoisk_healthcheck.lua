-- filmopoisk_healthcheck: active raw-HTTP health checks, runtime name resolution and peer selection
-- for the SHS upstream, with ngx_lua + lua-resty-core only (no lua-resty-upstream-healthcheck,
-- lua-upstream-nginx-module or lua-resty-dns: Debian does not package them).
--
--   init_by_lua_block        require("filmopoisk_healthcheck").configure{...}
--   init_worker_by_lua_block require("filmopoisk_healthcheck").init_worker()
--   balancer_by_lua_block    require("filmopoisk_healthcheck").balance()
--   content_by_lua_block     require("filmopoisk_healthcheck").status_page()
--
-- State lives in a lua_shared_dict, so every worker sees the same up/down view. A timer runs in every
-- worker, but a lock in the dict (expiring just before the next tick) lets one worker probe per interval.
-- Each round resolves every peer's name with a small DNS client over a UDP cosocket (the nameservers of
-- /etc/resolv.conf, or the configured ones), then sends the raw request over a TCP cosocket to the
-- resolved address and reads the status line. fall consecutive failures mark a peer down, rise
-- consecutive successes mark it up again. The balancer uses the last resolved address of each peer.

local M = {}

local ngx = ngx
local shared = ngx.shared
local byte, char, concat, floor = string.byte, string.char, table.concat, math.floor

local cfg                -- set by configure()
local rr = 0             -- round-robin position of this worker

local function dict()
    return shared[cfg.dict]
end

local function key(peer, field)
    return "peer:" .. peer.name .. ":" .. field
end

local function read_resolv_conf(path)
    local servers = {}
    local file = io.open(path, "r")
    if not file then
        return servers
    end
    for line in file:lines() do
        local addr = line:match("^%s*nameserver%s+(%d+%.%d+%.%d+%.%d+)%s*$")  -- IPv4 nameservers
        if addr then
            servers[#servers + 1] = addr
        end
    end
    file:close()
    return servers
end

-- Called from init_by_lua: validates and stores the configuration rendered by the role.
function M.configure(conf)
    assert(type(conf.peers) == "table" and #conf.peers > 0, "filmopoisk_healthcheck: no peers")
    conf.dict = conf.dict or "filmopoisk_health"
    conf.metrics_dict = conf.metrics_dict or "filmopoisk_metrics"
    conf.interval = conf.interval or 2000
    conf.timeout = conf.timeout or 1000
    conf.fall = conf.fall or 3
    conf.rise = conf.rise or 2
    conf.concurrency = conf.concurrency or 10
    conf.passive_fall = conf.passive_fall or 0
    conf.valid = {}
    for _, status in ipairs(conf.valid_statuses or { 200 }) do
        conf.valid[status] = true
    end
    if not conf.resolvers or #conf.resolvers == 0 then
        conf.resolvers = read_resolv_conf(conf.resolv_conf or "/etc/resolv.conf")
    end
    for _, peer in ipairs(conf.peers) do
        peer.name = peer.name or (peer.host .. ":" .. peer.port)
    end
    cfg = conf
end

---------------------------------------------------------------------------------------------------
-- DNS: one A query over UDP to each nameserver in turn.

local function is_ipv4(host)
    return host:match("^%d+%.%d+%.%d+%.%d+$") ~= nil
end

local function skip_name(msg, pos)
    while true do
        local len = byte(msg, pos)
        if not len then
            return nil
        end
        if len == 0 then
            return pos + 1
        end
        if len >= 0xC0 then  -- compression pointer: ends the name
            return pos + 2
        end
        pos = pos + 1 + len
    end
end

local function u16(msg, pos)
    local hi, lo = byte(msg, pos, pos + 1)
    return hi * 256 + lo
end

local function query_a(server, name, timeout)
    local id = math.random(0, 65535)
    local parts = { char(floor(id / 256), id % 256, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) }
    for label in name:gmatch("[^%.]+") do
        if #label > 63 then
            return nil, "label too long"
        end
        parts[#parts + 1] = char(#label) .. label
    end
    parts[#parts + 1] = "\0\0\1\0\1"  -- root, QTYPE A, QCLASS IN

    local sock = ngx.socket.udp()
    sock:settimeout(timeout)
    local ok, err = sock:setpeername(server, 53)
    if not ok then
        return nil, err
    end
    ok, err = sock:send(concat(parts))
    if not ok then
        sock:close()
        return nil, err
    end
    local msg
    for _ = 1, 4 do  -- ignore stray datagrams with another id
        msg, err = sock:receive()
        if not msg then
            sock:close()
            return nil, err
        end
        if #msg >= 12 and u16(msg, 1) == id then
            break
        end
        msg = nil
    end
    sock:close()
    if not msg then
        return nil, "no reply with our id"
    end
    local rcode = byte(msg, 4) % 16
    if rcode == 3 then
        return nil, "name not found"
    elseif rcode ~= 0 then
        return nil, "DNS rcode " .. rcode
    end
    local pos = 13
    for _ = 1, u16(msg, 5) do  -- questions
        pos = skip_name(msg, pos)
        if not pos then
            return nil, "malformed reply"
        end
        pos = pos + 4
    end
    local addrs = {}
    for _ = 1, u16(msg, 7) do  -- answers (CNAMEs are skipped, their A records follow)
        pos = skip_name(msg, pos)
        if not pos or pos + 9 > #msg then
            return nil, "malformed reply"
        end
        local rtype, rdlen = u16(msg, pos), u16(msg, pos + 8)
        local rdata = pos + 10
        if rtype == 1 and rdlen == 4 and rdata + 3 <= #msg then
            addrs[#addrs + 1] = string.format("%d.%d.%d.%d", byte(msg, rdata, rdata + 3))
        end
        pos = rdata + rdlen
    end
    if #addrs == 0 then
        return nil, "no A record"
    end
    return addrs
end

local function resolve(host)
    if is_ipv4(host) then
        return host
    end
    if #cfg.resolvers == 0 then
        return nil, "no nameserver (resolv.conf has none, openresty_resolvers is empty)"
    end
    local err
    for _, server in ipairs(cfg.resolvers) do
        local addrs
        addrs, err = query_a(server, host, cfg.timeout)
        if addrs then
            return addrs[1]
        end
        if err == "name not found" then
            break
        end
    end
    return nil, err
end
M.resolve = resolve

---------------------------------------------------------------------------------------------------
-- Probes

local function probe(peer, addr)
    local sock = ngx.socket.tcp()
    sock:settimeouts(cfg.timeout, cfg.timeout, cfg.timeout)
    local ok, err = sock:connect(addr, peer.port)
    if not ok then
        return false, "connect: " .. tostring(err)
    end
    ok, err = sock:send(cfg.http_req)
    if not ok then
        sock:close()
        return false, "send: " .. tostring(err)
    end
    local line
    line, err = sock:receive("*l")
    sock:close()
    if not line then
        return false, "receive: " .. tostring(err)
    end
    local status = tonumber(line:match("^HTTP/%d+%.%d+%s+(%d%d%d)"))
    if not status then
        return false, "bad status line"
    end
    if not cfg.valid[status] then
        return false, "status " .. status
    end
    return true, "status " .. status
end

local function set_down(peer, down, why)
    local d = dict()
    local was_down = d:get(key(peer, "down")) and true or false
    if was_down == down then
        return
    end
    d:set(key(peer, "down"), down)
    d:set(key(peer, "changed"), ngx.now())
    ngx.log(down and ngx.WARN or ngx.NOTICE, "filmopoisk_healthcheck: peer ", peer.name, " is ",
            down and "DOWN" or "UP", " (", why, ")")
end

local function check_peer(peer)
    local d = dict()
    local addr, err = resolve(peer.host)
    local ok, result
    if addr then
        if d:get(key(peer, "addr")) ~= addr then
            d:set(key(peer, "addr"), addr)
        end
        ok, result = probe(peer, addr)
    else
        -- A name that no longer resolves fails the probe; the last address is kept for fail-open.
        ok, result = false, "resolve: " .. tostring(err)
    end
    d:set(key(peer, "last_probe"), ngx.now())
    d:set(key(peer, "last_result"), result)
    if ok then
        d:incr(key(peer, "successes"), 1, 0)
        d:set(key(peer, "fail_run"), 0)
        local run = d:incr(key(peer, "ok_run"), 1, 0)
        if run >= cfg.rise then
            set_down(peer, false, run .. " successful probes")
        end
    else
        d:incr(key(peer, "failures"), 1, 0)
        d:set(key(peer, "ok_run"), 0)
        local run = d:incr(key(peer, "fail_run"), 1, 0)
        if run >= cfg.fall then
            set_down(peer, true, run .. " failed probes, last: " .. result)
        end
    end
end

local function run_round()
    local peers = cfg.peers
    local first = 1
    while first <= #peers do
        local threads = {}
        for i = first, math.min(first + cfg.concurrency - 1, #peers) do
            threads[#threads + 1] = ngx.thread.spawn(check_peer, peers[i])
        end
        for _, thread in ipairs(threads) do
            local ok, err = ngx.thread.wait(thread)
            if not ok then
                ngx.log(ngx.ERR, "filmopoisk_healthcheck: probe failed: ", err)
            end
        end
        first = first + cfg.concurrency
    end
    dict():set("round:last", ngx.now())
    dict():incr("round:count", 1, 0)
end

local function tick(premature)
    if premature then  -- shutting down
        return
    end
    -- One worker per interval: the lock expires just before the next tick of any worker's timer.
    local ok = dict():add("lock:round", ngx.worker.pid(), cfg.interval * 0.9 / 1000)
    if not ok then
        return
    end
    local done, err = pcall(run_round)
    if not done then
        ngx.log(ngx.ERR, "filmopoisk_healthcheck: round failed: ", err)
    end
end

function M.init_worker()
    if not cfg then
        ngx.log(ngx.ERR, "filmopoisk_healthcheck: configure() was not called in init_by_lua")
        return
    end
    local ok, err = ngx.timer.every(cfg.interval / 1000, tick)
    if not ok then
        ngx.log(ngx.ERR, "filmopoisk_healthcheck: cannot start the timer: ", err)
        return
    end
    ngx.timer.at(0, tick)  -- the first round right away (one worker wins the lock)
end

---------------------------------------------------------------------------------------------------
-- Peer selection (balancer_by_lua): round robin over the peers that are up and have an address;
-- retries (proxy_next_upstream) go to the next one. If every peer is down, all known ones are tried
-- (fail open: a wrong "down" must not turn into an outage).

local function passive_failure(peer)
    local d = dict()
    local metrics = shared[cfg.metrics_dict]
    if metrics then
        metrics:incr("retry|" .. peer.name, 1, 0)
    end
    if cfg.passive_fall <= 0 then
        return
    end
    local count = d:incr(key(peer, "passive"), 1, 0, cfg.interval / 1000)
    if count and count >= cfg.passive_fall then
        d:set(key(peer, "ok_run"), 0)
        d:incr(key(peer, "passive_ejections"), 1, 0)
        set_down(peer, true, count .. " failed requests within " .. cfg.interval .. " ms")
    end
end

function M.balance()
    local balancer = require "ngx.balancer"
    local ctx = ngx.ctx
    local order = ctx.fp_order
    if not order then
        local d = dict()
        local up, known = {}, {}
        for _, peer in ipairs(cfg.peers) do
            local addr = d:get(key(peer, "addr"))
            if addr then
                local candidate = { peer = peer, addr = addr }
                known[#known + 1] = candidate
                if not d:get(key(peer, "down")) then
                    up[#up + 1] = candidate
                end
            end
        end
        local candidates = #up > 0 and up or known
        if #candidates == 0 then
            ngx.log(ngx.ERR, "filmopoisk_healthcheck: no peer has an address yet")
            return ngx.exit(ngx.ERROR)
        end
        rr = rr + 1
        order = {}
        for i = 0, #candidates - 1 do
            order[#order + 1] = candidates[(rr + i) % #candidates + 1]
        end
        ctx.fp_order, ctx.fp_try = order, 1
        if #order > 1 then
            balancer.set_more_tries(#order - 1)
        end
    else
        passive_failure(order[ctx.fp_try].peer)
        ctx.fp_try = ctx.fp_try + 1
    end
    local candidate = order[ctx.fp_try]
    if not candidate then
        return ngx.exit(ngx.ERROR)
    end
    local ok, err = balancer.set_current_peer(candidate.addr, candidate.peer.port)
    if not ok then
        ngx.log(ngx.ERR, "filmopoisk_healthcheck: set_current_peer failed: ", err)
        return ngx.exit(ngx.ERROR)
    end
end

---------------------------------------------------------------------------------------------------
-- Status: a JSON page and the values the metrics page exports.

local function json_string(value)
    return '"' .. tostring(value):gsub('[%c"\\]', function(c)
        return string.format("\\u%04x", byte(c))
    end) .. '"'
end

local function json_value(value)
    local kind = type(value)
    if kind == "nil" then
        return "null"
    elseif kind == "boolean" then
        return tostring(value)
    elseif kind == "number" then
        if value == floor(value) and value < 1e15 then
            return string.format("%d", value)
        end
        return string.format("%.3f", value)
    end
    return json_string(value)
end

-- One table per peer: name, host, port, address, up, counters, last probe.
function M.peers()
    local d = dict()
    local out = {}
    for _, peer in ipairs(cfg.peers) do
        out[#out + 1] = {
            name = peer.name, host = peer.host, port = peer.port,
            address = d:get(key(peer, "addr")),
            up = not d:get(key(peer, "down")),
            last_probe = d:get(key(peer, "last_probe")),
            last_result = d:get(key(peer, "last_result")),
            last_change = d:get(key(peer, "changed")),
            successes = d:get(key(peer, "successes")) or 0,
            failures = d:get(key(peer, "failures")) or 0,
            consecutive_successes = d:get(key(peer, "ok_run")) or 0,
            consecutive_failures = d:get(key(peer, "fail_run")) or 0,
            passive_ejections = d:get(key(peer, "passive_ejections")) or 0,
        }
    end
    return out
end

local FIELDS = { "name", "host", "port", "address", "up", "last_probe", "last_result", "last_change",
                 "successes", "failures", "consecutive_successes", "consecutive_failures",
                 "passive_ejections" }

function M.status_page()
    local d = dict()
    local peers = {}
    local up = 0
    for _, peer in ipairs(M.peers()) do
        local fields = {}
        for _, field in ipairs(FIELDS) do
            fields[#fields + 1] = json_string(field) .. ": " .. json_value(peer[field])
        end
        peers[#peers + 1] = "    {" .. concat(fields, ", ") .. "}"
        if peer.up then
            up = up + 1
        end
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    ngx.say("{\n  \"now\": ", json_value(ngx.now()),
            ",\n  \"check\": {\"interval_ms\": ", cfg.interval, ", \"timeout_ms\": ", cfg.timeout,
            ", \"fall\": ", cfg.fall, ", \"rise\": ", cfg.rise,
            ", \"rounds\": ", json_value(d:get("round:count") or 0),
            ", \"last_round\": ", json_value(d:get("round:last")), "},",
            "\n  \"up\": ", up, ", \"total\": ", #cfg.peers, ",",
            "\n  \"peers\": [\n", concat(peers, ",\n"), "\n  ]\n}")
end

return M
