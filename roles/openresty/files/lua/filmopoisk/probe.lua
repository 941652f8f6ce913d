-- filmopoisk.probe: one active health probe as raw HTTP over a TCP cosocket (no upstream module).
--
--   local ok, result, body = probe.http(addr, port, request, valid, timeout, body_bytes)
--     -> true, "status 200" | false, "connect: connection refused" | false, "status 503" ...
--
-- `request` is sent as it is (the role's openresty_healthcheck_http_req: HTTP/1.0, so the peer closes
-- the connection); only the status line is read, and with body_bytes > 0 a healthy answer's body too (up to
-- that many bytes, the headers skipped). `valid` is a set of healthy statuses; `timeout` is in ms and applies to
-- each of connect, send and read.

local M = {}

local ngx = ngx

-- The body after the headers, up to `bytes` (nil when the answer ends before it).
local function read_body(sock, bytes)
    repeat
        local line = sock:receive("*l")
        if not line then
            return nil
        end
    until line == ""
    local data, _, partial = sock:receive(bytes)
    return data or partial
end

function M.http(addr, port, request, valid, timeout, body_bytes)
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
    if not line then
        sock:close()
        return false, "receive: " .. tostring(err)
    end
    local status = tonumber(line:match("^HTTP/%d+%.%d+%s+(%d%d%d)"))
    if not status then
        sock:close()
        return false, "bad status line"
    end
    if not valid[status] then
        sock:close()
        return false, "status " .. status
    end
    local body = body_bytes and body_bytes > 0 and read_body(sock, body_bytes) or nil
    sock:close()
    return true, "status " .. status, body
end

return M
