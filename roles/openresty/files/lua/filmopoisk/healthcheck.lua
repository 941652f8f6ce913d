-- filmopoisk.healthcheck: a health checker object per upstream: active raw-HTTP probes, runtime name
-- resolution, up/down state with fall/rise, and the passive-failure hook the balancer calls.
-- ngx_lua + lua-resty-core only (no lua-resty-upstream-healthcheck, lua-upstream-nginx-module or
-- lua-resty-dns: Debian does not package them).
--
--   init_by_lua_block         assert(require("filmopoisk.healthcheck").new({ name = "shs", ... }, limits))
--   init_worker_by_lua_block  require("filmopoisk.healthcheck").start_all()
--   then filmopoisk.balancer, filmopoisk.status and filmopoisk.metrics find a checker by its name.
--
-- new() checks the settings (SCHEMA: types; the numeric limits nginx.conf passes, the role's table) and
-- returns nil, err on a bad one; nginx.conf asserts it in
-- init_by_lua, so nginx does not start and the error names the field (in init_worker it would only be
-- logged, with workers serving and no checker).
-- Checkers made there are inherited by every worker.
--
-- State lives in a lua_shared_dict under keys prefixed with the checker's name, so every worker sees
-- the same up/down view and several upstreams can share one dict. A timer runs in every worker, but a
-- lock in the dict (expiring just before the next tick) lets one worker probe per interval. Each round
-- resolves every peer's name (filmopoisk.dns), sends the raw request to the resolved address
-- (filmopoisk.probe) and counts: fall consecutive failures mark a peer down, rise consecutive
-- successes mark it up again. Peers that resolve start up; a name that has never resolved is down (absent: no VM
-- has it), and one whose name is gone (NXDOMAIN) loses its address once it is down. The balancer uses the last
-- resolved address of each peer.

local settings = require "filmopoisk.settings"
local dns = require "filmopoisk.dns"
local probe = require "filmopoisk.probe"

local M = {}

local ngx = ngx

local function is_shm(name)
    if ngx.shared[name] then
        return true
    end
    return nil, "no lua_shared_dict named " .. name
end

local function is_ipv4(addr)
    for part in addr:gmatch("%d+") do
        if tonumber(part) > 255 then
            return nil, "must be an IPv4 address, got " .. addr
        end
    end
    return true
end

-- The role's rule for openresty_healthcheck_http_req: a request line, header lines, an empty line.
local function is_http_request(req)
    if req:find("^[A-Z]+ /%S* HTTP/1%.[01]\r?\n") and req:find("\n\r?\n$") and not req:find("[^\t\r\n\32-\126]") then
        return true
    end
    return nil, "must be a raw HTTP/1.x request ending in an empty line (printable ASCII)"
end

-- An integer whose range is limits[name], the table nginx.conf passes (the role's vars/main.yml).
local function int(name)
    return { type = "integer", limit = name }
end

-- Types only: no defaults and no limits (see filmopoisk.settings). Both are the role's; tasks/main.yml checks
-- the role variables against the same limits first, naming the variable.
M.SCHEMA = {
    type = "record",
    fields = {
        name = { type = "string", pattern = "^[%w_.-]+$", what = "a name of letters, digits, '_', '.', '-'" },
        shm = { type = "string", min_len = 1, check = is_shm },
        peers = {
            type = "array", min_len = 1,
            of = {
                type = "record",
                fields = {
                    name = { type = "string", min_len = 1 },
                    host = { type = "string", pattern = "^[%w.-]+$", what = "a host name or an IPv4 address" },
                    port = int("port"),
                },
            },
        },
        http_req = { type = "string", check = is_http_request },
        interval = int("interval"),    -- ms between rounds
        timeout = int("timeout"),      -- ms for each of resolve, connect, send, read; < interval
        fall = int("fall"),
        rise = int("rise"),
        valid_statuses = { type = "array", min_len = 1, of = int("status") },
        concurrency = int("concurrency"),
        passive_fall = int("passive_fall"),  -- 0: no passive ejection
        body_bytes = int("body_bytes"),      -- of a healthy answer's body kept for the balancer (0: none read)
        resolvers = {                  -- empty: the nameservers of resolv_conf
            type = "array",
            of = { type = "string", pattern = "^%d+%.%d+%.%d+%.%d+$", what = "an IPv4 address", check = is_ipv4 },
        },
        resolv_conf = { type = "string", min_len = 1 },
    },
}

local Checker = {}
Checker.__index = Checker

local by_name, in_order = {}, {}  -- every checker made by new(): one per upstream

-- A checker from its settings (every key of SCHEMA) checked against `limits` (the role's table; nil: types
-- only), or nil and "upstream NAME: field: problem".
function M.new(opts, limits)
    local name = type(opts) == "table" and tostring(opts.name) or "?"
    local conf, err = settings.check(M.SCHEMA, opts, limits)
    if not conf then
        return nil, "upstream " .. name .. ": " .. err
    end
    if conf.timeout >= conf.interval then
        return nil, "upstream " .. name .. ": timeout: must be less than interval (" .. conf.interval .. ")"
    end
    local seen = {}
    for i, peer in ipairs(conf.peers) do
        if seen[peer.name] then
            return nil, "upstream " .. name .. ": peers[" .. i .. "].name: duplicate " .. peer.name
        end
        seen[peer.name] = true
    end
    if by_name[name] then
        return nil, "upstream " .. name .. ": name: a checker of that name exists already"
    end
    local valid = {}
    for _, status in ipairs(conf.valid_statuses) do
        valid[status] = true
    end
    local nameservers = conf.resolvers
    if #nameservers == 0 then
        nameservers = dns.read_resolv_conf(conf.resolv_conf)
    end
    local self = setmetatable({
        name = name,
        conf = conf,
        valid = valid,
        dns = dns.new({ nameservers = nameservers, timeout = conf.timeout }),
        prefix = name .. ":",
    }, Checker)
    by_name[name] = self
    in_order[#in_order + 1] = self
    return self
end

function M.get(name)
    return by_name[name]
end

-- Every checker, in the order they were made.
function M.all()
    return in_order
end

function M.start_all()
    for _, checker in ipairs(in_order) do
        local ok, err = checker:start()
        if not ok then
            ngx.log(ngx.ERR, "filmopoisk.healthcheck: ", checker.name, ": cannot start the timer: ", err)
        end
    end
end

function Checker:dict()
    return ngx.shared[self.conf.shm]
end

function Checker:key(peer, field)
    return self.prefix .. "peer:" .. peer.name .. ":" .. field
end

function Checker:set_down(peer, down, why)
    local d = self:dict()
    local was_down = d:get(self:key(peer, "down")) and true or false
    if was_down == down then
        return
    end
    d:set(self:key(peer, "down"), down)
    d:set(self:key(peer, "changed"), ngx.now())
    ngx.log(down and ngx.WARN or ngx.NOTICE, "filmopoisk.healthcheck: ", self.name, ": peer ", peer.name, " is ",
            down and "DOWN" or "UP", " (", why, ")")
end

function Checker:check_peer(peer)
    local d, conf = self:dict(), self.conf
    local addr, err = self.dns:resolve(peer.host)
    local ok, result, body
    if addr then
        if d:get(self:key(peer, "addr")) ~= addr then
            d:set(self:key(peer, "addr"), addr)
        end
        ok, result, body = probe.http(addr, peer.port, conf.http_req, self.valid, conf.timeout, conf.body_bytes)
    else
        -- A name that does not resolve fails the probe.
        ok, result = false, "resolve: " .. tostring(err)
        if not d:get(self:key(peer, "addr")) then
            -- It never did: no VM has it yet (a spare name, such as the one of a rollout's extra VM). Down at once,
            -- so that the VM that takes it later gets requests only after `rise` good probes.
            self:set_down(peer, true, result)
        elseif err == "name not found" and d:get(self:key(peer, "down")) then
            -- Down and its name gone (the VM was deleted): its address is forgotten, so that fail open does not
            -- try it. A nameserver that does not answer is no such news: the last address is kept for fail open.
            d:delete(self:key(peer, "addr"))
        end
    end
    d:set(self:key(peer, "last_probe"), ngx.now())
    d:set(self:key(peer, "last_result"), result)
    if conf.body_bytes > 0 then
        d:set(self:key(peer, "body"), ok and body or nil)
    end
    if ok then
        d:incr(self:key(peer, "successes"), 1, 0)
        d:set(self:key(peer, "fail_run"), 0)
        local run = d:incr(self:key(peer, "ok_run"), 1, 0)
        if run >= conf.rise then
            self:set_down(peer, false, run .. " successful probes")
        end
    else
        d:incr(self:key(peer, "failures"), 1, 0)
        d:set(self:key(peer, "ok_run"), 0)
        local run = d:incr(self:key(peer, "fail_run"), 1, 0)
        if run >= conf.fall then
            self:set_down(peer, true, run .. " failed probes, last: " .. result)
        end
    end
end

local function check_peer(self, peer)
    return self:check_peer(peer)
end

function Checker:run_round()
    local peers, step = self.conf.peers, self.conf.concurrency
    for first = 1, #peers, step do
        local threads = {}
        for i = first, math.min(first + step - 1, #peers) do
            threads[#threads + 1] = ngx.thread.spawn(check_peer, self, peers[i])
        end
        for _, thread in ipairs(threads) do
            local ok, err = ngx.thread.wait(thread)
            if not ok then
                ngx.log(ngx.ERR, "filmopoisk.healthcheck: ", self.name, ": probe failed: ", err)
            end
        end
    end
    self:dict():set(self.prefix .. "round:last", ngx.now())
    self:dict():incr(self.prefix .. "round:count", 1, 0)
end

local function tick(premature, self)
    if premature then  -- shutting down
        return
    end
    -- One worker per interval: the lock expires just before the next tick of any worker's timer.
    local ok = self:dict():add(self.prefix .. "lock:round", ngx.worker.pid(), self.conf.interval * 0.9 / 1000)
    if not ok then
        return
    end
    local done, err = pcall(self.run_round, self)
    if not done then
        ngx.log(ngx.ERR, "filmopoisk.healthcheck: ", self.name, ": round failed: ", err)
    end
end

-- Starts this worker's timer (init_worker_by_lua); the first round runs right away.
function Checker:start()
    local ok, err = ngx.timer.every(self.conf.interval / 1000, tick, self)
    if not ok then
        return nil, err
    end
    return ngx.timer.at(0, tick, self)  -- one worker wins the lock
end

-- Peers that have an address, { peer = , addr = , body = (with body_bytes: of the last healthy answer) }, and
-- whether each is up; for the balancer.
function Checker:targets()
    local d = self:dict()
    local up, known = {}, {}
    local bodies = self.conf.body_bytes > 0
    for _, peer in ipairs(self.conf.peers) do
        local addr = d:get(self:key(peer, "addr"))
        if addr then
            local target = { peer = peer, addr = addr, body = bodies and d:get(self:key(peer, "body")) or nil }
            known[#known + 1] = target
            if not d:get(self:key(peer, "down")) then
                up[#up + 1] = target
            else
                -- down, but its last probe got an HTTP answer: the app runs (only its check fails)
                local result = d:get(self:key(peer, "last_result"))
                target.answers = result and result:sub(1, 7) == "status " or false
            end
        end
    end
    return up, known
end

-- Passive hook: a request to `peer` failed and goes to the next one (balancer retry). Counted; with
-- passive_fall > 0, that many failures within one interval mark the peer down at once (the active
-- check readmits it after `rise` good probes).
function Checker:report_failure(peer)
    local d, conf = self:dict(), self.conf
    d:incr(self:key(peer, "retries"), 1, 0)
    if conf.passive_fall <= 0 then
        return
    end
    local count = d:incr(self:key(peer, "passive"), 1, 0, conf.interval / 1000)
    if count and count >= conf.passive_fall then
        d:set(self:key(peer, "ok_run"), 0)
        d:incr(self:key(peer, "passive_ejections"), 1, 0)
        self:set_down(peer, true, count .. " failed requests within " .. conf.interval .. " ms")
    end
end

-- One table per peer: name, host, port, address, up, counters, last probe.
function Checker:peers()
    local d = self:dict()
    local out = {}
    for _, peer in ipairs(self.conf.peers) do
        out[#out + 1] = {
            name = peer.name, host = peer.host, port = peer.port,
            address = d:get(self:key(peer, "addr")),
            -- without an address (not resolved yet, or its name gone) nothing can be sent to it
            up = d:get(self:key(peer, "addr")) ~= nil and not d:get(self:key(peer, "down")),
            last_probe = d:get(self:key(peer, "last_probe")),
            last_result = d:get(self:key(peer, "last_result")),
            last_change = d:get(self:key(peer, "changed")),
            successes = d:get(self:key(peer, "successes")) or 0,
            failures = d:get(self:key(peer, "failures")) or 0,
            consecutive_successes = d:get(self:key(peer, "ok_run")) or 0,
            consecutive_failures = d:get(self:key(peer, "fail_run")) or 0,
            passive_ejections = d:get(self:key(peer, "passive_ejections")) or 0,
            retries = d:get(self:key(peer, "retries")) or 0,
        }
    end
    return out
end

-- Rounds run so far and when the last one ended.
function Checker:rounds()
    local d = self:dict()
    return d:get(self.prefix .. "round:count") or 0, d:get(self.prefix .. "round:last")
end

return M
