-- 64 KiB POST body ("abc...z" repeated, cut at 65536 bytes: benchmarks.apps.POST_BODY).
-- wrk.format adds the Content-Length header for a body.
wrk.method = "POST"
wrk.body = string.sub(string.rep("abcdefghijklmnopqrstuvwxyz", 2521), 1, 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
