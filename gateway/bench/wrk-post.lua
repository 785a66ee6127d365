-- POSTs the JSON body in $BODY (with an optional bearer $KEY) and prints one summary line:
-- RESULT {"requests","seconds","p50","p90","p99","errors","non2xx"} (latencies in ms).
local file = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("KEY")
if key and #key > 0 then wrk.headers["Authorization"] = "Bearer " .. key end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.6f,"p50":%.4f,"p90":%.4f,"p99":%.4f,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.timeout, e.status))
end
