-- filmopoisk.dns: a small DNS client (A records over a UDP cosocket) for ngx_lua without lua-resty-dns,
-- which Debian does not package.
--
--   local client = dns.new({ nameservers = { "10.0.0.2" }, timeout = 1000 })
--   local addr, err = client:resolve("shs-1.ru-central1.internal")   -- "10.0.0.7" | nil, "name not found"
--
-- One A query to each nameserver in turn (the next one only if a server fails, not on NXDOMAIN); the
-- first address of the answer is used. IPv4 literals are returned as they are. No search domains.

local M = {}

local ngx = ngx
local byte, char, concat, floor = string.byte, string.char, table.concat, math.floor

local Client = {}
Client.__index = Client

-- The IPv4 nameservers of a resolv.conf (an empty list if the file is missing).
function M.read_resolv_conf(path)
    local servers = {}
    local file = io.open(path, "r")
    if not file then
        return servers
    end
    for line in file:lines() do
        local addr = line:match("^%s*nameserver%s+(%d+%.%d+%.%d+%.%d+)%s*$")
        if addr then
            servers[#servers + 1] = addr
        end
    end
    file:close()
    return servers
end

function M.is_ipv4(host)
    return host:match("^%d+%.%d+%.%d+%.%d+$") ~= nil
end

-- opts.nameservers: IPv4 addresses (port 53); opts.timeout: ms for each query.
function M.new(opts)
    return setmetatable({ nameservers = opts.nameservers, timeout = opts.timeout }, Client)
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

-- The first IPv4 address of `host`, or nil and why.
function Client:resolve(host)
    if M.is_ipv4(host) then
        return host
    end
    if #self.nameservers == 0 then
        return nil, "no nameserver (resolv.conf has none, openresty_resolvers is empty)"
    end
    local err
    for _, server in ipairs(self.nameservers) do
        local addrs
        addrs, err = query_a(server, host, self.timeout)
        if addrs then
            return addrs[1]
        end
        if err == "name not found" then
            break
        end
    end
    return nil, err
end

return M
