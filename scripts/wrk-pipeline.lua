-- wrk pipelining for scripts/bench.sh's `pipeline` mode (issue 15): each
-- connection writes DEPTH requests back to back, then waits for their DEPTH
-- responses (wrk counts the requests in the buffer and each response apart).
--
--   wrk -t1 -c64 -d5s -s scripts/wrk-pipeline.lua http://127.0.0.1:19080/ -- 16
--
-- DEPTH is the first argument after `--` (default 16). The buffer is built once
-- in init(), so request() costs one Lua call per DEPTH requests.

local depth = 16
local batch

init = function(args)
   depth = tonumber(args[1]) or depth
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil)
   end
   batch = table.concat(r)
end

request = function()
   return batch
end
