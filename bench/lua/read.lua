-- GET one of the seeded users, chosen at random, as that user (`ids` and, when the
-- service authenticates, `tokens` are prepended by the bench: tokens[i] is ids[i]'s).
function init(args)
  math.randomseed(tonumber(args[2]) or os.time())
  headers = {}
  for i, token in ipairs(tokens or {}) do
    headers[i] = {["Authorization"] = "Bearer " .. token}
  end
end

function request()
  local i = math.random(#ids)
  return wrk.format("GET", "/api/v1/users/" .. ids[i], headers[i])
end
