-- wrk script of `make bench`: wrk -s bench/wrk.lua <url> -- <config.lua>
-- The config (written by bench/run.py) returns {method=, requests={{path=, token=, body_file=}...},
-- content_type=}; each thread cycles through the prepared requests from a random start.
local prepared, index

function init(args)
  local config = dofile(args[1])
  prepared = {}
  for k, r in ipairs(config.requests) do
    local headers = {}
    if r.token then headers["Authorization"] = "Bearer " .. r.token end
    if config.content_type then headers["Content-Type"] = config.content_type end
    local body = r.body
    if r.body_file then
      local f = assert(io.open(r.body_file, "rb"))
      body = f:read("*a")
      f:close()
    end
    prepared[k] = wrk.format(config.method or "GET", r.path, headers, body)
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  index = math.random(#prepared)
end

function request()
  index = index % #prepared + 1
  return prepared[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
