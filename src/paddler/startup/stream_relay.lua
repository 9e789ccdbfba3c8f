-- The balancer's stream relay: an HAProxy service every inference request but a WebSocket passes through
-- on its way to the inner frontend (queue, slots, retries, agents). Its one job is what HAProxy cannot do
-- alone: when an agent dies while its answer streams, end the client's stream with a last line in the
-- stream's own format (Paddler's Error envelope, or an OpenAI error event) instead of a body cut short.
-- docs/fleet.md ("A stream cut by an agent's death") says why, what it costs and which HAProxy it needs.

local INNER = os.getenv("PADDLER_RELAY_INNER")
local CUT = os.getenv("PADDLER_RELAY_CUT")
-- As long as `timeout server`: a stream may be silent this long (a request waiting in the queue).
local TIMEOUT_SECONDS = 3600
local READ_BYTES = 16384
-- Enough for a field and its value (a request id is a UUID or a client's label).
local CARRY_BYTES = 512

-- Headers that describe one connection, not the message: HAProxy and the relay set their own.
local HOP_BY_HOP = {
    ["connection"] = true, ["keep-alive"] = true, ["proxy-connection"] = true, ["te"] = true,
    ["trailer"] = true, ["transfer-encoding"] = true, ["upgrade"] = true, ["content-length"] = true,
    ["expect"] = true,
}

-- A Lua socket's stream does not notice that `receive` emptied its buffer: once an answer has filled
-- the buffer, HAProxy stops reading from the server and `receive` waits forever (HAProxy 2.6 to 3.0 at
-- least). Arming the stream's timer for 1 ms wakes it to look at the buffer again; the second call puts
-- the inactivity timeout back (3.0 keeps the earlier of the two wake-ups, 2.6 does not: hence 3.0+).
local function receive(socket, pattern)
    socket:settimeout(0.001)
    socket:settimeout(TIMEOUT_SECONDS)
    return socket:receive(pattern)
end

local function json_string(text)
    return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

-- The line that ends a cut stream, in the format the stream was in (nil: a body with no such line).
local function cut_line(content_type, path, request_id, sequence_number)
    if path:find("^/api/v1/") then  -- Paddler's inference API streams NDJSON (as application/json)
        return '{"Error":{"request_id":' .. json_string(request_id)
            .. ',"error":{"code":502,"description":' .. json_string(CUT) .. '}}}\n'
    end
    if content_type:find("text/event-stream", 1, true) then
        if path:find("^/v1/responses") then
            return 'event: error\ndata: {"type":"error","code":"server_error","message":' .. json_string(CUT)
                .. ',"param":null,"sequence_number":' .. sequence_number .. '}\n\n'
        end
        return 'data: {"error":{"message":' .. json_string(CUT)
            .. ',"type":"server_error","param":null,"code":null}}\n\ndata: [DONE]\n\n'
    end
    return nil
end

local function request_head(applet, body)
    local target = applet.path
    if applet.qs and applet.qs ~= "" then
        target = target .. "?" .. applet.qs
    end
    local lines = { applet.method .. " " .. target .. " HTTP/1.1" }
    for name, values in pairs(applet.headers) do
        if not HOP_BY_HOP[name] then
            for i = 0, #values do
                if values[i] then
                    lines[#lines + 1] = name .. ": " .. values[i]
                end
            end
        end
    end
    lines[#lines + 1] = "content-length: " .. #body
    lines[#lines + 1] = "connection: close"
    return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

-- The status line and headers of the inner frontend's answer: code, reason, {{name, value}}.
local function response_head(socket)
    local status = receive(socket, "*l")
    if not status then
        return nil
    end
    local code, reason = status:match("^HTTP/1%.%d (%d%d%d) ?(.*)$")
    if not code then
        return nil
    end
    local headers = {}
    while true do
        local line = receive(socket, "*l")
        if not line then
            return nil
        end
        if line == "" then
            break
        end
        local name, value = line:match("^([^:]+):%s*(.-)%s*$")
        if name then
            headers[#headers + 1] = { name:lower(), value }
        end
    end
    return tonumber(code), reason, headers
end

-- Relay up to `length` bytes in reads of at most READ_BYTES; false when the answer ended short.
local function relay_bytes(socket, send, length)
    while length > 0 do
        local data, _, partial = receive(socket, math.min(length, READ_BYTES))
        if not data then
            if partial and #partial > 0 then
                send(partial)
            end
            return false
        end
        send(data)
        length = length - #data
    end
    return true
end

-- Relay a chunked body; false when it ended before its last chunk.
local function relay_chunked(socket, send)
    while true do
        local size_line = receive(socket, "*l")
        local size = size_line and tonumber(size_line:match("^%s*(%x+)"), 16)
        if not size then
            return false
        end
        if size == 0 then
            repeat
                local trailer = receive(socket, "*l")
            until not trailer or trailer == ""
            return true
        end
        if not relay_bytes(socket, send, size) or not receive(socket, "*l") then
            return false
        end
    end
end

-- Relay a body that ends when the connection does, line by line (every stream here is made of lines).
local function relay_until_close(socket, send)
    while true do
        local line, err, partial = receive(socket, "*l")
        if not line then
            if partial and #partial > 0 then
                send(partial)
            end
            return err == "closed" and (not partial or #partial == 0)
        end
        send(line .. "\n")
    end
end

local function refuse(applet, socket)
    socket:close()
    applet:set_status(502)
    applet:start_response()
end

core.register_service("paddler_relay", "http", function(applet)
    local body = applet:receive() or ""
    local socket = core.tcp()
    socket:settimeout(TIMEOUT_SECONDS)
    if not socket:connect(INNER) or not socket:send(request_head(applet, body) .. body) then
        return refuse(applet, socket)
    end
    local code, reason, headers = response_head(socket)
    if not code then
        return refuse(applet, socket)
    end
    applet:set_status(code, reason)
    local content_type, length, chunked = "", nil, false
    for _, header in ipairs(headers) do
        local name, value = header[1], header[2]
        if name == "content-type" then
            content_type = value
        elseif name == "content-length" then
            length = tonumber(value)
        elseif name == "transfer-encoding" then
            chunked = value:lower():find("chunked", 1, true) ~= nil
        end
        if not HOP_BY_HOP[name] or (name == "content-length" and not chunked) then
            applet:add_header(name, value)
        end
    end
    applet:start_response()

    -- What the cut line repeats: Paddler's request id, the Responses API's next event number. Both are
    -- looked for in the end of what was sent before too, so a field split between two reads is found.
    local request_id, sequence_number, last, carry = nil, 0, "\n", ""
    local function send(data)
        local window = carry .. data
        if not request_id then
            request_id = window:match('"request_id":"([^"]*)"')
        end
        for number in window:gmatch('"sequence_number":(%d+)%D') do
            sequence_number = tonumber(number) + 1
        end
        carry = window:sub(-CARRY_BYTES)
        last = data:sub(-1)
        applet:send(data)
    end
    local complete
    if applet.method == "HEAD" or code == 204 or code == 304 then
        complete = true
    elseif chunked then
        complete = relay_chunked(socket, send)
    elseif length then
        complete = relay_bytes(socket, send, length)
    else
        complete = relay_until_close(socket, send)
    end
    socket:close()
    if complete then
        return
    end
    local line = cut_line(content_type, applet.path, request_id or applet.sf:uuid(), sequence_number)
    if line then
        -- A line cut in two is ended first, so the error stands on a line (an event) of its own.
        if last ~= "\n" then
            line = (content_type:find("text/event-stream", 1, true) and "\n\n" or "\n") .. line
        end
        applet:send(line)
    end
end)
