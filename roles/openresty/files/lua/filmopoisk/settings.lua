-- filmopoisk.settings: checks a settings table against a schema; returns a checked copy, or nil and
-- "field: problem" (e.g. "peers[2].port: must be 1-65535, got 0").
--
-- The shape of Kong lua-resty-healthcheck's get_defaults()/fill_in_settings(), with two differences:
-- a bad value is returned as nil, err (the caller decides to fail), not raised; and a schema holds no
-- default values and no limits. Every setting is required: the defaults live in one place, the role's
-- defaults/main.yml, and nginx.conf passes every setting, so a missing one is a bug to report. The numeric
-- limits live in one place too, the role's vars/main.yml: nginx.conf passes that table as `limits`, and an
-- integer entry names its limit (limit = "interval" checks limits.interval.min/max); without limits only the
-- types are checked.
--
-- Schema entries: { type = "integer", limit = }, { type = "string", min_len = , pattern = , what = },
-- { type = "array", of = <entry>, min_len = }, { type = "record", fields = { name = <entry>, ... } };
-- any entry may add check = function(value) return true | nil, "problem" end.

local M = {}

local floor = math.floor

local function show(value)
    if type(value) == "string" then
        return string.format("%q", value)
    end
    return tostring(value)
end

local function range(limit)
    if limit.min and limit.max then
        return limit.min .. "-" .. limit.max
    elseif limit.min then
        return limit.min .. " or more"
    end
    return limit.max .. " or less"
end

local check  -- check(spec, value, path, limits) -> checked value | nil, err

local KINDS = {}

function KINDS.integer(spec, value, path, limits)
    if type(value) ~= "number" or value ~= floor(value) then
        return nil, path .. ": must be an integer, got " .. show(value)
    end
    local limit = spec.limit and limits and limits[spec.limit]
    if limit and ((limit.min and value < limit.min) or (limit.max and value > limit.max)) then
        return nil, path .. ": must be " .. range(limit) .. ", got " .. show(value)
    end
    return value
end

function KINDS.string(spec, value, path)
    if type(value) ~= "string" then
        return nil, path .. ": must be a string, got " .. show(value)
    end
    if #value < (spec.min_len or 0) then
        return nil, path .. ": must not be empty"
    end
    if spec.pattern and not value:find(spec.pattern) then
        return nil, path .. ": must be " .. (spec.what or "like " .. spec.pattern) .. ", got " .. show(value)
    end
    return value
end

function KINDS.array(spec, value, path, limits)
    if type(value) ~= "table" then
        return nil, path .. ": must be a list, got " .. show(value)
    end
    local out = {}
    for i, item in ipairs(value) do
        local checked, err = check(spec.of, item, path .. "[" .. i .. "]", limits)
        if checked == nil then
            return nil, err
        end
        out[i] = checked
    end
    for k in pairs(value) do
        if out[k] == nil then
            return nil, path .. ": must be a list, has key " .. show(k)
        end
    end
    if #out < (spec.min_len or 0) then
        return nil, path .. ": must have at least " .. spec.min_len .. " item(s)"
    end
    return out
end

function KINDS.record(spec, value, path, limits)
    if type(value) ~= "table" then
        return nil, path .. ": must be a table, got " .. show(value)
    end
    local prefix = path == "" and "" or path .. "."
    for k in pairs(value) do
        if not spec.fields[k] then
            return nil, prefix .. tostring(k) .. ": unknown setting"
        end
    end
    local names = {}
    for k in pairs(spec.fields) do
        names[#names + 1] = k
    end
    table.sort(names)  -- the same error first on every run
    local out = {}
    for _, k in ipairs(names) do
        local field = spec.fields[k]
        if value[k] == nil then
            return nil, prefix .. k .. ": missing (nginx.conf passes every setting; the defaults are the role's)"
        end
        local checked, err = check(field, value[k], prefix .. k, limits)
        if checked == nil then
            return nil, err
        end
        out[k] = checked
    end
    return out
end

check = function(spec, value, path, limits)
    local checked, err = KINDS[spec.type](spec, value, path, limits)
    if checked ~= nil and spec.check then
        local ok, problem = spec.check(checked)
        if not ok then
            return nil, path .. ": " .. problem
        end
    end
    return checked, err
end

-- Checks `value` against the record schema `spec` and the named `limits` ({ name = { min = , max = } }, or
-- nil for types only): a new table, or nil and "field: problem".
function M.check(spec, value, limits)
    if limits ~= nil and type(limits) ~= "table" then
        return nil, "limits: must be a table, got " .. show(limits)
    end
    return check(spec, value, "", limits)
end

return M
