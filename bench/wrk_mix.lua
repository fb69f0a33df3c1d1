-- Used by bench/backup_bench.py: every request takes the next line of a
-- file (given after `--` on wrk's command line), each line
-- "<Accept header value><TAB><path>", so one run mixes pages of different
-- kinds (simple HTML and JSON, web pages, JSON API) over many projects.
-- At the end it prints the same "WRK_JSON {...}" line as wrk_json.lua
-- (loaded from this script's folder).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "wrk_json.lua")

local lines = {}
local requests = {}
local next_line = 0

init = function(args)
  local f = assert(io.open(args[1], "r"), "wrk_mix.lua: cannot open the paths file")
  for line in f:lines() do
    local accept, path = line:match("^([^\t]*)\t(.+)$")
    if path then
      lines[#lines + 1] = { accept = accept, path = path }
    end
  end
  f:close()
  assert(#lines > 0, "wrk_mix.lua: the paths file is empty")
  -- Threads start at different places in the list.
  next_line = math.random(#lines) - 1
end

request = function()
  next_line = next_line % #lines + 1
  local r = requests[next_line]
  if not r then
    local l = lines[next_line]
    r = wrk.format("GET", l.path, { Accept = l.accept })
    requests[next_line] = r
  end
  return r
end
