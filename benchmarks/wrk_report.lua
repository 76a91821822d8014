-- Bounds a wrk run by request count as well as by time, and prints its
-- figures as one JSON line for benchmarks/served.py to read.

local limit = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
local counted = 0

function response(status, headers, body)
  counted = counted + 1
  if limit > 0 and counted >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d,'
      .. ' "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
