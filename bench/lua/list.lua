-- GET a page of 20 users at a random offset inside the seeded rows.
function init(args)
  math.randomseed(tonumber(args[2]) or os.time())
end

function request()
  return wrk.format("GET", "/api/v1/users?limit=20&offset=" .. math.random(0, 49) * 20)
end
