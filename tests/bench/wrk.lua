-- tests/bench/wrk.lua - the wrk script of bench.sh.
--
-- GET runs: nothing but done(), so wrk keeps sending its one pre-built
-- request (no Lua call per request).
-- Upload runs (BENCH_METHOD set): every request carries the body of the
-- file BENCH_BODY as application/json.  With BENCH_PATH_PREFIX (WebDAV
-- PUT) every request goes to PREFIX<run>-<n>.json, a name not used before;
-- BENCH_RUN makes it unique across runs.  Both upload forms go through
-- request(), so the load generator does the same work for every server.
-- done() prints one line "BENCH key=value ..." that bench.sh parses.

local method = os.getenv("BENCH_METHOD")

if method and method ~= "" then
   local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
   local body = f:read("*a")
   f:close()
   local headers = { ["Content-Type"] = "application/json" }
   -- BENCH_AUTH: an Authorization value ("Basic ...", upload_auth.sh)
   local auth = os.getenv("BENCH_AUTH")
   if auth and auth ~= "" then
      headers["Authorization"] = auth
   end
   local prefix = os.getenv("BENCH_PATH_PREFIX") or ""
   local run = os.getenv("BENCH_RUN") or "0"
   local n = 0
   request = function()
      local path = wrk.path
      if prefix ~= "" then
         n = n + 1
         path = prefix .. run .. "-" .. n .. ".json"
      end
      return wrk.format(method, path, headers, body)
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("BENCH requests=%d bytes=%d duration_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d " ..
      "p50_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.bytes, summary.duration,
      e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50), latency:percentile(99), latency.max))
end
