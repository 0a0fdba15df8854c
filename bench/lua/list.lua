-- GET a page of 20 users at a random offset inside the seeded rows, as the seeded
-- superuser when the service authenticates (`superuser_token` is prepended).
function init(args)
  math.randomseed(tonumber(args[2]) or os.time())
  if superuser_token then
    headers = {["Authorization"] = "Bearer " .. superuser_token}
  end
end

function request()
  return wrk.format("GET", "/api/v1/users?limit=20&offset=" .. math.random(0, 49) * 20, headers)
end
