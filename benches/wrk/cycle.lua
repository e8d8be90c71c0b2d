-- wrk script: request PATH_PREFIX .. <next line of LINES_FILE, URL-encoded> .. PATH_SUFFIX, cycling.
--   LINES_FILE=queries.txt PATH_PREFIX='/api/v1/search?q=' PATH_SUFFIX='&mode=keyword' wrk -s cycle.lua URL
-- Each connection starts at a different line, so the server sees the whole list.
local lines = {}
for line in io.lines(os.getenv("LINES_FILE")) do
  if #line > 0 then lines[#lines + 1] = line end
end
local prefix = os.getenv("PATH_PREFIX") or "/"
local suffix = os.getenv("PATH_SUFFIX") or ""
local encode = os.getenv("ENCODE") ~= "0"
local counter = 0
local index = 1

local function url_encode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

setup = function(thread)
  counter = counter + 1
  thread:set("index", counter * 97)
end

request = function()
  index = index % #lines + 1
  local value = lines[index]
  if encode then value = url_encode(value) end
  return wrk.format("GET", prefix .. value .. suffix)
end

done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %.3f, "rps": %.1f, "errors_status": %d, "errors_connect": %d, "errors_timeout": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.errors.status, summary.errors.connect, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
