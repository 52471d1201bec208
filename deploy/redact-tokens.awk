# Every line nginx logs passes through this filter first (scripts/serve.py and the proxy service
# of docker-compose.yml). nginx's error log names the request line and the upstream URL, query
# string included: a WebSocket handshake authenticated by `?token=<access>` that fails upstream
# (daphne down, restarting, too slow) would write a live access token into the log. nginx cannot
# leave the query out of those lines, so the values are cut here: any `token=` parameter, and
# anything shaped like a JWT wherever it stands.
{
    gsub(/[Tt][Oo][Kk][Ee][Nn]=[^&" \t]*/, "token=[redacted]")
    gsub(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/, "[redacted]")
    print
    fflush()
}
