-- Used by bench/web_bench.py: every request takes the next path from a file
-- (one path per line, given after `--` on wrk's command line), so a run
-- spreads over many pages instead of hammering one. Headers given with -H
-- are sent on every request. At the end it prints the same "WRK_JSON {...}"
-- line as wrk_json.lua (loaded from this script's folder).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "wrk_json.lua")

local paths = {}
local next_path = 0

init = function(args)
  local f = assert(io.open(args[1], "r"), "wrk_paths.lua: cannot open the paths file")
  for line in f:lines() do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  f:close()
  assert(#paths > 0, "wrk_paths.lua: the paths file is empty")
  -- Threads start at different places in the list.
  next_path = math.random(#paths) - 1
end

request = function()
  next_path = next_path % #paths + 1
  return wrk.format(nil, paths[next_path])
end
