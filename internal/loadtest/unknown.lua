-- wrk script for .ci/bench-verify: every request asks for a different,
-- well-formed certificate number that was never issued, so every answer is
-- read from the database (each answer is then cached as a negative entry,
-- but no number is asked for twice). Give each wrk run of one service a
-- different round number: wrk ... -s unknown.lua URL -- ROUND (1 to 20).
local year = os.date("%Y")
local threads = 0
counter = 0
base = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

-- ISO 7064 MOD 11-2, as registry.FormatCertNumber computes it.
local function check(body)
  local p = 0
  for i = 1, #body do
    p = (p + body:byte(i) - 48) * 2 % 11
  end
  local c = (12 - p) % 11
  if c == 10 then return "X" end
  return tostring(c)
end

-- Each thread of each round has its own million numbers.
function init(args)
  base = 10000000 + (tonumber(args[1]) or 0) * 4000000 + tid * 1000000
end

function request()
  counter = counter + 1
  local body = string.format("37%s%08d", year, base + counter)
  return wrk.format("GET", "/v/" .. body .. check(body) .. "?k=x")
end
