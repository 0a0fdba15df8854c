-- POST a new user; every email is unique: run tag, thread id and a counter.
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  tag = args[1]
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email": "u%s-%d-%d@bench.example.com", "password": "bench password", '
      .. '"full_name": "Bench User"}',
    tag, thread_id, counter)
  return wrk.format("POST", "/api/v1/users", {["Content-Type"] = "application/json"}, body)
end
