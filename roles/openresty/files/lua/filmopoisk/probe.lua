-- filmopoisk.probe: one active health probe as raw HTTP over a TCP cosocket (no upstream module).
--
--   local ok, result = probe.http(addr, port, request, valid, timeout)
--     -> true, "status 200" | false, "connect: connection refused" | false, "status 503" ...
--
-- `request` is sent as it is (the role's openresty_healthcheck_http_req: HTTP/1.0, so the peer closes
-- the connection); only the status line is read. `valid` is a set of healthy statuses; `timeout` is in
-- ms and applies to each of connect, send and read.

local M = {}

local ngx = ngx

function M.http(addr, port, request, valid, timeout)
    local sock = ngx.socket.tcp()
    sock:settimeouts(timeout, timeout, timeout)
    local ok, err = sock:connect(addr, port)
    if not ok then
        return false, "connect: " .. tostring(err)
    end
    ok, err = sock:send(request)
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
    if not valid[status] then
        return false, "status " .. status
    end
    return true, "status " .. status
end

return M
