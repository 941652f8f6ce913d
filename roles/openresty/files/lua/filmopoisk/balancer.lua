-- filmopoisk.balancer: peer choice for balancer_by_lua, from a filmopoisk.healthcheck checker, with a per-peer
-- request budget (openresty_peer_rps_limit).
--
--   upstream shs { server 0.0.0.1; balancer_by_lua_block { require("filmopoisk.balancer").balance("shs", shm, n) } }
--   location / { access_by_lua_block { require("filmopoisk.balancer").admit("shs", shm, n) } proxy_pass http://shs; }
--
-- Round robin over the peers that are up and have an address; retries (proxy_next_upstream) go to the
-- next one, and each retry reports the failed peer to the checker (passive ejection) unless the peer answered
-- 429 (it is at its limit, not sick). If every peer is down, all known ones are tried (fail open: a wrong "down"
-- must not turn into an outage).
--
-- The budget: `shm` (a lua_shared_dict) counts the requests sent to each peer per 100 ms; a peer has room while
-- its count over the current and the previous 10 slices (1.0-1.1 s) is below `n` requests. So every window of
-- one second, wherever it starts, holds at most `n`: the reference service (and bingo) counts fixed one-second
-- windows of its own clock, which the LB cannot see. A peer without room is skipped while another has some;
-- admit() answers 429 at once when none has (n = 0: no budget). A 429 from a peer anyway (another LB node sends
-- to it too) marks it full for FULL_S.

local M = {}

local ngx = ngx
local healthcheck = require "filmopoisk.healthcheck"
local floor = math.floor

local SLICES_PER_S = 10
local FULL_S = 0.1

local position = {}  -- round-robin position of this worker, per upstream

local function fail(...)
    ngx.log(ngx.ERR, "filmopoisk.balancer: ", ...)
    return ngx.exit(ngx.ERROR)
end

-- Take one request of the peer's budget; false (nothing taken) when it has no room.
local function take(d, name, peer, budget)
    local key = name .. "|" .. peer.name .. "|"
    if d:get(key .. "full") then
        return false
    end
    local slice = floor(ngx.now() * SLICES_PER_S)
    local count, err = d:incr(key .. slice, 1, 0, 2)
    if not count then
        ngx.log(ngx.WARN, "filmopoisk.balancer: request budget not counted: ", err)
        return true
    end
    for s = slice - SLICES_PER_S, slice - 1 do
        count = count + (d:get(key .. s) or 0)
    end
    if count > budget then
        d:incr(key .. slice, -1)
        return false
    end
    return true
end

-- This request's peers in round-robin order (kept in ngx.ctx for its retries). With a budget, the peers the
-- active check counts down although they answer it (an HTTP status, not a connect error: bingo's /ping has sick
-- spells while the rest of it serves) come last: the room of last resort when every peer that is up is full.
local function order_of(name, checker, spill)
    local up, known = checker:targets()
    local targets = #up > 0 and up or known
    if #targets == 0 then
        return nil
    end
    local rr = (position[name] or 0) + 1
    position[name] = rr
    local order = {}
    for i = 0, #targets - 1 do
        order[#order + 1] = targets[(rr + i) % #targets + 1]
    end
    if spill and #up > 0 and #up < #known then
        local is_up = {}
        for _, target in ipairs(up) do
            is_up[target.peer] = true
        end
        for _, target in ipairs(known) do
            if not is_up[target.peer] and target.answers then
                order[#order + 1] = target
            end
        end
    end
    return order
end

-- The next untried peer of the order, preferring one with room in its budget; nil when all were tried.
local function pick(ctx, name, shm, budget)
    local d = budget > 0 and ngx.shared[shm]
    local fallback
    for i, target in ipairs(ctx.fp_order) do
        if not ctx.fp_tried[i] then
            if not d or take(d, name, target.peer, budget) then
                return i, true
            end
            fallback = fallback or i
        end
    end
    return fallback, false
end

-- access_by_lua: choose the first peer now, so that a request no peer has room for is answered at once
-- (429, Retry-After: 1) instead of being sent to a peer at its limit.
local BUSY = '{"error": "Too many requests: every peer is at its limit", "status": 429}'

function M.admit(name, shm, budget)
    if budget <= 0 then
        return
    end
    local checker = healthcheck.get(name)
    local order = checker and order_of(name, checker, true)
    if not order then
        return  -- the balancer reports it
    end
    local ctx = ngx.ctx
    ctx.fp_order, ctx.fp_tried = order, {}
    local first, room = pick(ctx, name, shm, budget)
    if not room then
        ngx.status = 429
        ngx.header["Content-Type"] = "application/json"
        ngx.header["Retry-After"] = "1"
        ngx.print(BUSY)
        return ngx.exit(429)
    end
    ctx.fp_first = first
end

function M.balance(name, shm, budget)
    local balancer = require "ngx.balancer"
    local checker = healthcheck.get(name)
    if not checker then
        return fail("no health checker for upstream ", name)
    end
    shm, budget = shm or "", budget or 0
    local ctx = ngx.ctx
    local current
    if not ctx.fp_try then
        -- The first try: the peer admit() chose, or one chosen here (a location without admit()).
        if not ctx.fp_order then
            ctx.fp_order = order_of(name, checker, budget > 0)
            if not ctx.fp_order then
                return fail(name, ": no peer has an address yet")
            end
            ctx.fp_tried = {}
        end
        current = ctx.fp_first or pick(ctx, name, shm, budget)
        ctx.fp_try = 1
        if #ctx.fp_order > 1 then
            balancer.set_more_tries(#ctx.fp_order - 1)
        end
    else
        local failed = ctx.fp_order[ctx.fp_current].peer
        local _, status = balancer.get_last_failure()
        if status == 429 then
            if budget > 0 then
                ngx.shared[shm]:set(name .. "|" .. failed.name .. "|full", true, FULL_S)
            end
        else
            checker:report_failure(failed)
        end
        ctx.fp_try = ctx.fp_try + 1
        current = pick(ctx, name, shm, budget)
    end
    if not current then
        return ngx.exit(ngx.ERROR)
    end
    ctx.fp_tried[current], ctx.fp_current = true, current
    local target = ctx.fp_order[current]
    local ok, err = balancer.set_current_peer(target.addr, target.peer.port)
    if not ok then
        return fail(name, ": set_current_peer failed: ", err)
    end
end

return M
