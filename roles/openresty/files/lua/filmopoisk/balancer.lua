-- filmopoisk.balancer: peer choice for balancer_by_lua, from a filmopoisk.healthcheck checker, with a per-peer
-- request budget (openresty_peer_rps_limit).
--
--   init_by_lua_block { require("filmopoisk.balancer").configure("shs", { shm = , limit = , probes = , queue = ,
--                                                                        share = "lb" }) }
--   upstream shs { server 0.0.0.1; balancer_by_lua_block { require("filmopoisk.balancer").balance("shs") } }
--   location / { access_by_lua_block { require("filmopoisk.balancer").admit("shs") } proxy_pass http://shs; }
--
-- Round robin over the peers that are up and have an address; retries (proxy_next_upstream) go to the
-- next one, and each retry reports the failed peer to the checker (passive ejection) unless the peer answered
-- 429 (it is at its limit, not sick). If every peer is down, all known ones are tried (fail open: a wrong "down"
-- must not turn into an outage).
--
-- The budget: `shm` (a lua_shared_dict) counts the requests sent to each peer per 100 ms; a peer has room while
-- its count over the current and the previous 10 slices (1.0-1.1 s) is below the budget `n`. So every window of
-- one second, wherever it starts, holds at most `n`: the reference service (and bingo) counts fixed one-second
-- windows of its own clock, which the LB cannot see. A peer without room is skipped while another has some. A 429
-- from a peer anyway (another LB node sends to it too) marks it full for FULL_S. `n` is this node's share of the
-- peer's `limit` (0: no budget), less the `probes` its health checker sends each peer a second. The share: the
-- LB nodes in front of the same peers (openresty_lb_nodes, this one included) are the `share` checker's peers;
-- each answers alive() with the requests a second it wants sent to the peers (its demand, counted by admit()),
-- and the nodes up split the limit by demand: limit x (mine + 1) / (all + nodes up). So a node the network load
-- balancer sends more traffic gets more of the limit, and a lost or stopping node's share goes to the others as
-- soon as their checker sees it down (without the checker: this node alone, the whole limit).
--
-- When no peer has room, admit() queues the request for up to `queue` seconds (openresty_peer_queue_timeout,
-- like HAProxy's server queue and `timeout queue`): a short overload, such as one peer restarting while the other
-- takes all the load, costs latency instead of errors. The line is this worker's, first come first served: only
-- its oldest request polls for room (every POLL_S; the others sleep until the one before them leaves), and a
-- newcomer joins the line while it is not empty. The workers' lines are one line: each line's head writes when it
-- arrived in `shm` (refreshed as it polls), only the head that arrived first takes room, and a newcomer queues
-- while any worker's line has a head waiting (so a worker with a longer line is not served at the pace of one with
-- a shorter one). A request that waited `queue` in vain gets the 429 (Retry-After: 1); with queue = 0 every such
-- request gets it at once. The same timeout holds a request while no peer serves at
-- all (none up, none answering its check: every app VM restarting at once), until one is back; then it is sent.
-- A peer's 429 that no other peer took goes through the queue once more (requeue(), a POST too: the peer at its
-- limit processed nothing).

local M = {}

local ngx = ngx
local healthcheck = require "filmopoisk.healthcheck"
local semaphore = require "ngx.semaphore"
local floor = math.floor

local SLICES_PER_S = 10
local FULL_S = 0.1
local POLL_S = 0.02    -- the oldest queued request looks for room this often
local NUDGE_S = 0.25   -- the others check that the line still moves this often
local STALE_S = 1      -- a queued request not seen for this long left without saying so (its request was ended)
local HOLD_POLL_S = 0.05  -- while no peer serves, the requests held look for one this often

local position = {}  -- round-robin position of this worker, per upstream
local lines = {}     -- this worker's queued requests, per upstream: {first = i, last = j, [i] = entry, ...}
local configs = {}   -- the budget's settings, per upstream (configure)
local NO_BUDGET = { shm = "", limit = 0, probes = 0, queue = 0 }

-- This LB node's id in alive()'s answer: how it tells its own entry among the `share` checker's peers.
local function new_node_id()
    local file = io.open("/proc/sys/kernel/random/uuid", "r")
    local id = file and file:read("*l")
    if file then
        file:close()
    end
    return (id or tostring(ngx.now())):gsub("[^%w]", "")
end

-- From init_by_lua (inherited by the workers): the budget of upstream `name`.
function M.configure(name, opts)
    configs[name] = { shm = opts.shm or "", limit = opts.limit or 0, probes = opts.probes or 0,
                      queue = opts.queue or 0, share = opts.share, node_id = new_node_id() }
end

-- Requests a second this node wants sent to upstream `name` (counted by admit() per 100 ms: the last 10 slices).
local function demand(conf, name)
    local d = ngx.shared[conf.shm]
    if not d then
        return 0
    end
    local slice, total = floor(ngx.now() * SLICES_PER_S), 0
    for s = slice - SLICES_PER_S, slice - 1 do
        total = total + (d:get(name .. "|demand|" .. s) or 0)
    end
    return total
end

-- This node's budget per peer now (its share of the limit less its probes, at least 1; 0: no budget) and the LB
-- nodes up.
local function budget_of(conf, name)
    if conf.limit <= 0 then
        return 0, 1
    end
    local share = conf.limit
    local checker = conf.share and healthcheck.get(conf.share)
    local up = checker and checker:targets()
    local nodes = up and math.max(#up, 1) or 1
    if up and #up > 0 then
        local mine, all, me_seen = demand(conf, name), 0, false
        for _, target in ipairs(up) do
            local id, wanted = (target.body or ""):match("^alive (%w+) (%d+)")
            if id == conf.node_id then
                me_seen = true  -- our own entry: the live count instead of the last probe's
            else
                -- a node that said nothing usable: as much as us
                all = all + (tonumber(wanted) or mine)
            end
        end
        if not me_seen then
            nodes = nodes + 1  -- our own entry is down or not probed yet: we are up all the same
        end
        all = all + mine
        share = conf.limit * (mine + 1) / (all + nodes)
    end
    return math.max(floor(share) - conf.probes, 1), nodes
end

-- location = /lb-alive: "alive <node id> <demand>" for the other LB nodes' `share` checker; 503 "draining" from
-- the start of a graceful stop (filmopoisk.drain), so that they take this node's share while it drains.
function M.alive(name)
    local conf = configs[name]
    if require("filmopoisk.drain").draining() then
        ngx.status = 503
        return ngx.say("draining")
    end
    if not conf then
        return ngx.say("alive")
    end
    return ngx.say("alive ", conf.node_id, " ", demand(conf, name))
end

-- For the health page: the peers' limit, the LB nodes sharing it that are up (1 without a share) and this node's
-- demand (requests a second) and budget per peer now; nil when upstream `name` has no budget.
function M.budget(name)
    local conf = configs[name]
    if not conf or conf.limit <= 0 then
        return nil
    end
    local budget, nodes = budget_of(conf, name)
    return { limit = conf.limit, lb_nodes_up = nodes, demand = demand(conf, name), per_peer = budget,
             queue_s = conf.queue }
end

local function fail(...)
    ngx.log(ngx.ERR, "filmopoisk.balancer: ", ...)
    return ngx.exit(ngx.ERROR)
end

-- A peer that answered 429 is full for FULL_S (take() skips it), whoever saw the 429 (balance(), requeue()).
local function mark_full(d, name, peer)
    d:set(name .. "|" .. peer.name .. "|full", true, FULL_S)
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
local function order_of(name, up, known, spill)
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

-- access_by_lua: choose the first peer now, so that a request no peer has room for waits for room (queue_s) or is
-- answered 429 (Retry-After: 1) instead of being sent to a peer at its limit.
local BUSY = '{"error": "Too many requests: every peer is at its limit", "status": 429}'

local function busy()
    ngx.status = 429
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Retry-After"] = "1"
    ngx.print(BUSY)
    return ngx.exit(429)
end

-- The line's oldest entry still waiting (entries that left, or were not seen for STALE_S, are dropped).
local function oldest(line, now)
    while line.first <= line.last do
        local entry = line[line.first]
        if not entry.gone and now - entry.seen < STALE_S then
            return entry
        end
        entry.dropped = not entry.gone  -- still waiting, but its coroutine was not resumed for STALE_S
        line[line.first] = nil
        line.first = line.first + 1
    end
end

local function leave(line, entry)
    entry.gone = true
    local next_entry = oldest(line, ngx.now())
    if next_entry then
        next_entry.sema:post(1)  -- its turn: it looks for room now
    end
end

-- Sets this request's peer order (from the checker's targets `up`, `known`), its first peer when one has room,
-- and the budget for balance(); false when none has room (or no order: the balancer reports that).
local function place(name, shm, budget, up, known)
    local order = up and order_of(name, up, known, true)
    if not order then
        return true
    end
    local ctx = ngx.ctx
    ctx.fp_order, ctx.fp_tried, ctx.fp_budget = order, {}, budget
    local first, room = pick(ctx, name, shm, budget)
    if room then
        ctx.fp_first = first
    end
    return room
end

-- No peer up and none of them answering the check (each refuses or times out: all restarting at once, such as
-- bingo crashing on both VMs), or none with an address (no name resolves: before the first round, or every VM
-- gone): a request sent now fails at once (502).
local function none_serving(up, known)
    if not up or #up > 0 then
        return false
    end
    for _, target in ipairs(known) do
        if target.answers then
            return false
        end
    end
    return true
end

-- The checker's targets (up, known) of upstream `name`; nil without a checker.
local function targets_of(name)
    local checker = healthcheck.get(name)
    if checker then
        return checker:targets()
    end
end

-- The one line across workers: a worker's head waiting since `since` says so under its worker's key.
local function head_key(name, worker)
    return name .. "|head|" .. worker
end

-- Whether a request that arrived at `since` may take room now: no other worker's head waiting arrived before it
-- (ties: the lower worker id first). A head key lives STALE_S unless refreshed: a worker gone stops blocking.
local function first_in_line(d, name, since)
    local me = ngx.worker.id() or 0
    for worker = 0, ngx.worker.count() - 1 do
        if worker ~= me then
            local other = d:get(head_key(name, worker))
            if other and (other < since or (other == since and worker < me)) then
                return false
            end
        end
    end
    return true
end

function M.admit(name)
    local conf = configs[name] or NO_BUDGET
    local shm, queue_s = conf.shm, conf.queue
    local budget = budget_of(conf, name)
    if budget <= 0 then
        return
    end
    local d = ngx.shared[shm]
    if not d then
        return
    end
    local now = ngx.now()
    d:incr(name .. "|demand|" .. floor(now * SLICES_PER_S), 1, 0, 2)
    -- from the request's start: a requeued request (requeue()) waits within the same timeout
    local deadline = ngx.req.start_time() + queue_s
    local up, known = targets_of(name)
    -- While no peer serves, the request waits (within the same queue timeout) for one to come back rather than
    -- failing at once; past the timeout it is sent all the same (fail open: a wrong "down" is no outage).
    if queue_s > 0 and none_serving(up, known) then
        repeat
            ngx.sleep(HOLD_POLL_S)
            now = ngx.now()
            up, known = targets_of(name)
        until now >= deadline or not none_serving(up, known)
        budget = budget_of(conf, name)
    end
    if known and #known == 0 then
        -- still no peer with an address: nothing to send it to (the balancer could only fail it with a 500)
        ngx.log(ngx.ERR, "filmopoisk.balancer: ", name, ": no peer has an address")
        return ngx.exit(502)
    end
    local line = lines[name]
    if not line then
        line = {first = 1, last = 0}
        lines[name] = line
    end
    -- while others wait (in this worker's line, or another's: any head there arrived before now), a newcomer
    -- queues behind them
    if queue_s <= 0 or not oldest(line, now) and first_in_line(d, name, now) then
        if place(name, shm, budget, up, known) then
            return
        end
        if queue_s <= 0 then
            return busy()
        end
    end
    local entry = {seen = now, since = now, sema = semaphore.new()}
    line.last = line.last + 1
    line[line.last] = entry
    local key = head_key(name, ngx.worker.id() or 0)
    while true do
        local is_head = oldest(line, now) == entry
        if is_head then
            d:set(key, entry.since, STALE_S)
        end
        if (is_head or entry.dropped) and first_in_line(d, name, entry.since) then
            up, known = targets_of(name)
            if place(name, shm, budget_of(conf, name), up, known) then
                if is_head then
                    d:delete(key)
                end
                return leave(line, entry)
            end
        end
        if now >= deadline then
            if is_head then
                d:delete(key)
            end
            leave(line, entry)
            return busy()
        end
        entry.sema:wait(math.min((is_head or entry.dropped) and POLL_S or NUDGE_S, deadline - now))
        ngx.update_time()
        now = ngx.now()
        entry.seen = now
    end
end

-- location @filmopoisk_requeue, the error_page 429 of a proxied location: the peers that answered 429 (at their
-- limit, they processed nothing, so even a POST may go again) are full for FULL_S, and the request is admitted
-- once more: it waits in the queue for room (within the timeout counted from its start) and goes to a peer that
-- has some. Once: a 429 there goes to the client.
function M.requeue(name)
    local conf = configs[name]
    local d = conf and ngx.shared[conf.shm]
    local tried = {}  -- $upstream_addr: "10.0.0.4:80, 10.0.0.5:80" (and " : " between passes)
    for addr in (ngx.var.upstream_addr or ""):gmatch("[^%s,]+:%d+") do
        tried[addr] = true
    end
    local _, known = targets_of(name)
    if d and known then
        for _, target in ipairs(known) do
            if tried[target.addr .. ":" .. target.peer.port] then
                mark_full(d, name, target.peer)
            end
        end
    end
    return M.admit(name)
end

function M.balance(name)
    local balancer = require "ngx.balancer"
    local checker = healthcheck.get(name)
    if not checker then
        return fail("no health checker for upstream ", name)
    end
    local conf = configs[name] or NO_BUDGET
    local ctx = ngx.ctx
    -- the budget admit() placed the request with, or this node's now (a location without admit())
    local shm, budget = conf.shm, ctx.fp_budget or budget_of(conf, name)
    ctx.fp_budget = budget
    local current
    if not ctx.fp_try then
        -- The first try: the peer admit() chose, or one chosen here (a location without admit()).
        if not ctx.fp_order then
            local up, known = checker:targets()
            ctx.fp_order = order_of(name, up, known, budget > 0)
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
                mark_full(ngx.shared[shm], name, failed)
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
