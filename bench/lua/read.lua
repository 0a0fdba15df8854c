-- GET one of the seeded users, chosen at random (`ids` is prepended by the bench).
function init(args)
  math.randomseed(tonumber(args[2]) or os.time())
end

function request()
  return wrk.format("GET", "/api/v1/users/" .. ids[math.random(#ids)])
end
