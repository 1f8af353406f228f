-- wrk: send a fixed number of requests, cycling through a list, then stop.
--   VV_REQS        file of lines METHOD<TAB>PATH<TAB>HOST<TAB>BODY
--                  (HOST empty: the URL's; BODY empty: none, else JSON)
--   VV_PER_THREAD  responses each thread counts before it stops
--   VV_DONE        each thread then creates VV_DONE.<thread number>: wrk
--                  itself waits out its -d, so the caller interrupts it
-- A thread that stops leaves at most its connections' requests in flight,
-- so the server answers between N and N + connections requests.
local threads = 0
local reqs, i, n, limit = {}, 0, 0, 0

function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end

function init(args)
    limit = tonumber(os.getenv("VV_PER_THREAD"))
    for line in io.lines(os.getenv("VV_REQS")) do
        local m, p, h, b = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
        local headers = {}
        if h ~= "" then headers["Host"] = h end
        if b == "" then
            b = nil
        else
            headers["Content-Type"] = "application/json"
        end
        reqs[#reqs + 1] = wrk.format(m, p, headers, b)
    end
end

function request()
    i = i % #reqs + 1
    return reqs[i]
end

function response(status, headers, body)
    n = n + 1
    if n == limit then
        io.open(os.getenv("VV_DONE") .. "." .. id, "w"):close()
        wrk.thread:stop()
    end
end
