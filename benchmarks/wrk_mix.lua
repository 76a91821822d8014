-- Sends the requests listed in a file, in turn: wrk ... -s wrk_mix.lua URL -- FILE
-- FILE holds one "host<TAB>cookie" line per request; an empty cookie sends no Cookie header.
local requests, turn = {}, 0

function init(args)
  -- Formatted once here: formatting in request() would slow the client down.
  for line in io.lines(args[1]) do
    local host, cookie = line:match("^([^\t]+)\t(.*)$")
    local headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    headers["Host"] = host
    if cookie ~= "" then
      headers["Cookie"] = cookie
    end
    requests[#requests + 1] = wrk.format(nil, nil, headers)
  end
end

function request()
  turn = turn % #requests + 1
  return requests[turn]
end
