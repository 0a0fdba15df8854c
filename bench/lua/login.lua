-- Log one of the seeded users in with the OAuth2 password form, chosen at random:
-- every seeded user's email is seed<n>@bench.example.com and they share one password.
function init(args)
  math.randomseed(tonumber(args[2]) or os.time())
end

function request()
  local body = "username=seed" .. math.random(#ids) .. "%40bench.example.com"
    .. "&password=bench+password"
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  return wrk.format("POST", "/api/v1/auth/token", headers, body)
end
