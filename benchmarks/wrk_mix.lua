-- Sends the requests listed in a file, in turn, for benchmarks/gateway.py:
--   wrk ... -s wrk_mix.lua URL -- FILE
-- FILE holds one "host<TAB>cookie" line per request (an empty cookie sends
-- no Cookie header); headers given with -H go with every request.  Bounded
-- by count as well as time, as wrk_report.lua is, and prints its JSON line
-- with the count of each status added, since a 401 is an answer here.

local limit = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
local requests = {}
local turn = 0
local counted = 0
local threads = {}
-- Global, so that done() can collect each thread's through thread:get().
statuses = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  -- Built once here: formatting a request in request() would slow the client.
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
    table.insert(requests, wrk.format(nil, nil, headers))
  end
end

function request()
  turn = turn % #requests + 1
  return requests[turn]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  counted = counted + 1
  if limit > 0 and counted >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(totals) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d,'
      .. ' "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout, table.concat(parts, ", ")))
end
