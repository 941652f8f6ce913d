-- filmopoisk.prefetch: refreshes a cache entry shortly before it expires, from a timer, so that no client's
-- request is the one that refreshes it.
--
--   location = /long_dummy { proxy_cache ...; log_by_lua_block {
--       require("filmopoisk.prefetch").log("filmopoisk_prefetch", "unix:/run/refresh.sock", 43, 12) } }
--
-- The fill server stamps each response it gives the cache with X-Filmopoisk-Filled ($msec; kept with the entry,
-- hidden from clients). A hit on an entry older than `after` seconds starts one refresh (a lock in the shared dict
-- `shm`, held `lock_s`): a timer sends GET <uri> to the refresh server (`socket`), whose location stores the
-- answer in the same cache (proxy_cache_bypass). nginx's own background update (proxy_cache_background_update)
-- would make the refresh part of the client's request: its connection serves nothing else until the refresh
-- is done, so the client's next request on it waits for the app. The background update remains the fallback
-- when no request came in time or the refresh failed.
--
--   init_worker_by_lua_block { require("filmopoisk.prefetch").keep_warm("unix:/run/refresh.sock", "/long_dummy", 40) }
--
-- keep_warm() refreshes one URI from a timer of one worker, traffic or not: at start (so the first request finds
-- the entry) and then every `every` seconds (a failed refresh is tried again after RETRY_S). Without it, after a
-- quiet spell longer than the entry's life, the entry is gone and the next requests wait for the app's 1 s
-- (nginx's cache lock). A hit's own prefetch (log()) remains for the other URIs of the location (query strings).

local M = {}

local ngx = ngx

local RETRY_S = 2  -- keep_warm(): a failed refresh (no peer up yet, say) is tried again this soon

-- GET uri from the refresh server; true when it answered 200.
local function refresh(premature, socket, uri)
    if premature then
        return
    end
    local sock = ngx.socket.tcp()
    sock:settimeout(60000)  -- bounded by the refresh server's own timeouts
    local ok, err = sock:connect(socket)
    if ok then
        ok, err = sock:send("GET " .. uri .. " HTTP/1.0\r\nHost: localhost\r\n\r\n")
    end
    local line
    if ok then
        line, err = sock:receive("*l")
    end
    sock:close()
    if not line then
        ngx.log(ngx.WARN, "filmopoisk.prefetch: refreshing ", uri, " failed: ", err)
        return false
    end
    return line:match("^HTTP/%d%.%d 200") ~= nil
end

local function warm(premature, socket, uri, every)
    if premature then
        return
    end
    local next_s = refresh(false, socket, uri) and every or RETRY_S
    local ok, err = ngx.timer.at(next_s, warm, socket, uri, every)
    if not ok then
        ngx.log(ngx.ERR, "filmopoisk.prefetch: keeping ", uri, " warm stopped: ", err)
    end
end

-- From init_worker_by_lua: refresh `uri` now and every `every` seconds, in worker 0 only.
function M.keep_warm(socket, uri, every)
    if ngx.worker.id() ~= 0 then
        return
    end
    local ok, err = ngx.timer.at(0, warm, socket, uri, math.max(every, 1))
    if not ok then
        ngx.log(ngx.ERR, "filmopoisk.prefetch: no timer to keep ", uri, " warm: ", err)
    end
end

function M.log(shm, socket, after, lock_s)
    local filled = tonumber(ngx.var.upstream_http_x_filmopoisk_filled)
    if not filled or ngx.now() - filled < after then
        return
    end
    local uri = ngx.var.request_uri
    local d = ngx.shared[shm]
    local key = uri .. "|" .. filled  -- one refresh per entry (a failed one is tried again after lock_s)
    if d and d:add(key, true, lock_s) then
        local ok, err = ngx.timer.at(0, refresh, socket, uri)
        if not ok then
            ngx.log(ngx.WARN, "filmopoisk.prefetch: no timer for ", uri, ": ", err)
            d:delete(key)
        end
    end
end

return M
