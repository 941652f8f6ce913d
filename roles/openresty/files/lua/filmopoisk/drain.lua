-- filmopoisk.drain: the LB VM's graceful stop lets kept-alive clients leave after a complete response.
--
--   init_worker_by_lua_block  require("filmopoisk.drain").start("/run/filmopoisk-drain")
--   server { rewrite_by_lua_block { require("filmopoisk.drain").rewrite("@filmopoisk_drain") }
--            location @filmopoisk_drain { keepalive_timeout 0;
--                rewrite_by_lua_block { require("filmopoisk.drain").resume() } } }
--
-- nginx's graceful stop (SIGQUIT) closes idle kept-alive connections at once: a client that sends its next request
-- on one at that moment gets no answer ("connection closed without response"). So the container's entrypoint
-- (openresty-entrypoint.sh) first creates the flag file and waits a few seconds: while it exists, every request
-- passes through a location with keepalive_timeout 0 and is answered with "Connection: close", and the client opens
-- its next connection (through the network load balancer, to another LB VM). Only then does nginx stop.
-- The flag is read by a timer, never per request.

local M = {}

local ngx = ngx
local draining = false

local function poll(premature, path)
    if premature then
        return
    end
    local file = io.open(path, "r")
    draining = file ~= nil
    if file then
        file:close()
    end
end

function M.start(path, every)
    poll(false, path)
    local ok, err = ngx.timer.every(every or 0.2, poll, path)
    if not ok then
        ngx.log(ngx.ERR, "filmopoisk.drain: cannot start its timer: ", err)
    end
end

function M.draining()
    return draining
end

-- Server rewrite phase: while draining, a client's request goes through the named location (once: internal
-- redirects are not sent again).
function M.rewrite(location)
    if draining and not ngx.req.is_internal() then
        return ngx.exec(location)
    end
end

-- The named location (keepalive_timeout 0 switched the request's keep-alive off): on to the request's own location.
function M.resume()
    return ngx.exec(ngx.var.uri, ngx.var.args)
end

return M
