-- wrk: POST the JSON body in $VV_BODY to the URL, on every connection.
wrk.method = "POST"
wrk.body = os.getenv("VV_BODY")
wrk.headers["Content-Type"] = "application/json"
