-- Used by bench/scale_bench.py: at the end of a wrk run, print one line
-- "WRK_JSON {...}" with requests, duration, errors and latency percentiles
-- (microseconds), so the script does not parse wrk's human-readable text.
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  local fields = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors":%d', errors),
    string.format('"p50_us":%d', latency:percentile(50)),
    string.format('"p99_us":%d', latency:percentile(99)),
    string.format('"max_us":%d', latency.max),
  }
  io.write("WRK_JSON {" .. table.concat(fields, ",") .. "}\n")
end
