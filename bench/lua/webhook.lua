-- POST a webhook-sized JSON body to the receiver, as a worker's deliveries do.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"user.updated","timestamp":"2026-11-30T08:00:00.000000Z","data":{'
  .. '"id":"0b7e4a52-1c1e-4d0e-9a43-6f0f4b1c2d3e","email":"seed1@bench.example.com",'
  .. '"full_name":"bench throughput 1","is_active":true,"is_superuser":false,'
  .. '"created_at":"2026-11-30T08:00:00.000000Z","updated_at":"2026-11-30T08:00:00.000000Z"}}'
