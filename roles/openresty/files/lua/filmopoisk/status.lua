-- filmopoisk.status: the upstream health page (JSON) of one checker.
--
--   location = /hck_status { content_by_lua_block { require("filmopoisk.status").page("shs") } }
--
-- {"now": , "check": {interval_ms, timeout_ms, fall, rise, rounds, last_round}, "up": , "total": ,
--  "budget": {limit, lb_nodes_up, demand, per_peer, queue_s} (with openresty_peer_rps_limit),
--  "peers": [{name, host, port, address, up, last_probe, last_result, last_change, successes, failures,
--             consecutive_successes, consecutive_failures, passive_ejections, retries}]}

local M = {}

local ngx = ngx
local healthcheck = require "filmopoisk.healthcheck"
local byte, concat, floor = string.byte, table.concat, math.floor

local FIELDS = { "name", "host", "port", "address", "up", "last_probe", "last_result", "last_change",
                 "successes", "failures", "consecutive_successes", "consecutive_failures",
                 "passive_ejections", "retries" }

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

function M.page(name)
    local checker = healthcheck.get(name)
    if not checker then
        ngx.log(ngx.ERR, "filmopoisk.status: no health checker for upstream ", name)
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    local conf = checker.conf
    local peers, up = {}, 0
    for _, peer in ipairs(checker:peers()) do
        local fields = {}
        for _, field in ipairs(FIELDS) do
            fields[#fields + 1] = json_string(field) .. ": " .. json_value(peer[field])
        end
        peers[#peers + 1] = "    {" .. concat(fields, ", ") .. "}"
        if peer.up then
            up = up + 1
        end
    end
    local rounds, last_round = checker:rounds()
    local budget = require("filmopoisk.balancer").budget(name)
    local budget_json = ""
    if budget then
        budget_json = string.format(
            '\n  "budget": {"limit": %d, "lb_nodes_up": %d, "demand": %d, "per_peer": %d, "queue_s": %s},',
            budget.limit, budget.lb_nodes_up, budget.demand, budget.per_peer, json_value(budget.queue_s))
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    ngx.say("{\n  \"now\": ", json_value(ngx.now()),
            ",\n  \"check\": {\"interval_ms\": ", conf.interval, ", \"timeout_ms\": ", conf.timeout,
            ", \"fall\": ", conf.fall, ", \"rise\": ", conf.rise,
            ", \"rounds\": ", json_value(rounds), ", \"last_round\": ", json_value(last_round), "},",
            "\n  \"up\": ", up, ", \"total\": ", #conf.peers, ",", budget_json,
            "\n  \"peers\": [\n", concat(peers, ",\n"), "\n  ]\n}")
end

return M
