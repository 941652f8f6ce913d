-- filmopoisk.balancer: peer choice for balancer_by_lua, from a filmopoisk.healthcheck checker.
--
--   upstream shs { server 0.0.0.1; balancer_by_lua_block { require("filmopoisk.balancer").balance("shs") } }
--
-- Round robin over the peers that are up and have an address; retries (proxy_next_upstream) go to the
-- next one, and each retry reports the failed peer to the checker (passive ejection). If every peer is
-- down, all known ones are tried (fail open: a wrong "down" must not turn into an outage).

local M = {}

local ngx = ngx
local healthcheck = require "filmopoisk.healthcheck"

local position = {}  -- round-robin position of this worker, per upstream

local function fail(...)
    ngx.log(ngx.ERR, "filmopoisk.balancer: ", ...)
    return ngx.exit(ngx.ERROR)
end

function M.balance(name)
    local balancer = require "ngx.balancer"
    local checker = healthcheck.get(name)
    if not checker then
        return fail("no health checker for upstream ", name)
    end
    local ctx = ngx.ctx
    local order = ctx.fp_order
    if not order then
        local up, known = checker:targets()
        local targets = #up > 0 and up or known
        if #targets == 0 then
            return fail(name, ": no peer has an address yet")
        end
        local rr = (position[name] or 0) + 1
        position[name] = rr
        order = {}
        for i = 0, #targets - 1 do
            order[#order + 1] = targets[(rr + i) % #targets + 1]
        end
        ctx.fp_order, ctx.fp_try = order, 1
        if #order > 1 then
            balancer.set_more_tries(#order - 1)
        end
    else
        checker:report_failure(order[ctx.fp_try].peer)
        ctx.fp_try = ctx.fp_try + 1
    end
    local target = order[ctx.fp_try]
    if not target then
        return ngx.exit(ngx.ERROR)
    end
    local ok, err = balancer.set_current_peer(target.addr, target.peer.port)
    if not ok then
        return fail(name, ": set_current_peer failed: ", err)
    end
end

return M
