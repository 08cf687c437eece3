# tests/bench/report.awk - bench.sh's results (one line of key=value per
# run) into markdown tables, one per scenario group.
#
#   awk -v sut=mthttpd -v servers="mthttpd nginx ..." -v scenarios="ka50 ..." \
#       -v reps=N -f report.awk results.txt
#
# A cell is the median over the repetitions, followed by (min-max) when
# there was more than one.  Errors are summed over the repetitions.  The
# last column sets the server under test against the best peer: its median
# divided by the best peer's median (higher is better for throughput; for
# latency and memory the best peer is the lowest, and lower is better).
# Plain POSIX awk (Debian's default mawk runs it).

function parse(line, a,    n, i, f, p) {
    split("", a)
    n = split(line, f, " ")
    for (i = 1; i <= n; i++) {
        p = index(f[i], "=")
        if (p) a[substr(f[i], 1, p - 1)] = substr(f[i], p + 1)
    }
}

function put(sc, s, m, v) {
    cnt[sc, s, m]++
    val[sc, s, m, cnt[sc, s, m]] = v
}

# median of the values of (sc, s, m); sets LO and HI; "" when none
function med(sc, s, m,    n, i, j, t, v) {
    n = cnt[sc, s, m] + 0
    if (n == 0) return ""
    for (i = 1; i <= n; i++) v[i] = val[sc, s, m, i] + 0
    for (i = 2; i <= n; i++) {          # insertion sort, n is small
        t = v[i]
        for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
        v[j + 1] = t
    }
    LO = v[1]; HI = v[n]
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}

function total(sc, s, m,    n, i, t) {
    n = cnt[sc, s, m] + 0
    if (n == 0) return ""
    for (i = 1; i <= n; i++) t += val[sc, s, m, i]
    return t
}

# thousands separators for big numbers, fewer decimals the bigger it is
function fmt(v,    s, neg, out) {
    if (v == "") return "-"
    v += 0
    if (v < 0) { neg = "-"; v = -v }
    if (v >= 100) {
        s = sprintf("%.0f", v)
        out = ""
        while (length(s) > 3) {
            out = "," substr(s, length(s) - 2) out
            s = substr(s, 1, length(s) - 3)
        }
        return neg s out
    }
    if (v >= 10) return neg sprintf("%.1f", v)
    return neg sprintf("%.2f", v)
}

function fmtint(v) {
    if (v == "") return "-"
    return v + 0 >= 100 ? fmt(v) : sprintf("%d", v)
}

function cell(sc, s, m,    x) {
    x = med(sc, s, m)
    if (x == "") return "-"
    if (cnt[sc, s, m] > 1) return fmt(x) " (" fmt(LO) "-" fmt(HI) ")"
    return fmt(x)
}

# the same for whole numbers (percentages)
function celli(sc, s, m,    x) {
    x = med(sc, s, m)
    if (x == "") return "-"
    if (cnt[sc, s, m] > 1) return fmtint(x) " (" fmtint(LO) "-" fmtint(HI) ")"
    return fmtint(x)
}

# sut / best peer for (sc, m); lower=1 when lower is better
function ratio(sc, m, lower,    i, s, x, best, who, mine) {
    if (!peers(sc)) return "-"
    mine = med(sc, sut, m)
    if (mine == "") return "-"
    best = ""
    for (i = 1; i <= nsrv; i++) {
        s = srv[i]
        if (s == sut) continue
        x = med(sc, s, m)
        if (x == "") continue
        if (best == "" || (lower ? x < best : x > best)) { best = x; who = s }
    }
    if (best == "" || best + 0 == 0) return "-"
    return sprintf("%.2f (%s)", mine / best, who)
}

function peers(sc,    i) {
    for (i = 1; i <= nsrv; i++) if (srv[i] != sut && cnt[sc, srv[i], "n"]) return 1
    return 0
}

function have(sc,    i) {
    for (i = 1; i <= nsrv; i++) if (cnt[sc, srv[i], "n"]) return 1
    return 0
}

function header(title, cols,    n, c, i, line, rule) {
    printf "\n### %s\n\n", title
    n = split(cols, c, "|")
    line = "|"; rule = "|"
    for (i = 1; i <= n; i++) { line = line " " c[i] " |"; rule = rule "---|" }
    print line; print rule
}

BEGIN {
    nsrv = split(servers, srv, " ")
    nsc = split(scenarios, scl, " ")
    for (i = 1; i <= nsc; i++) ran[scl[i]] = 1
}

{
    parse($0, r)
    sc = r["scen"]; s = r["server"]
    if (sc == "" || s == "") next
    cnt[sc, s, "n"]++
    if (r["failed"] == 1) { failed[sc, s]++; next }
    if (sc == "idle") {
        put(sc, s, "ok", r["ok"]); put(sc, s, "alive", r["alive"])
        put(sc, s, "conns", r["conns"])
        put(sc, s, "rss0", r["rss0_kb"] / 1024); put(sc, s, "rss1", r["rss1_kb"] / 1024)
        put(sc, s, "pss1", r["pss1_kb"] / 1024)
        n = r["ok"] > 0 ? r["ok"] : 1
        put(sc, s, "kib_pss", (r["pss1_kb"] - r["pss0_kb"]) / n)
        put(sc, s, "kib_rss", (r["rss1_kb"] - r["rss0_kb"]) / n)
        k = split(r["fresh"], f, ",")
        for (i = 1; i <= k; i++) {
            split(f[i], cl, ":")
            if (cl[1] != "200") bad[s] = bad[s] " " cl[1]
            put(sc, s, "lat", cl[2] * 1000)
        }
        next
    }
    d = r["duration_us"] / 1e6
    if (d <= 0) d = 1
    put(sc, s, "rps", r["requests"] / d)
    put(sc, s, "mbs", r["bytes"] / d / 1e6)
    put(sc, s, "p50", r["p50_us"] / 1000)
    put(sc, s, "p99", r["p99_us"] / 1000)
    put(sc, s, "err", r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] + r["err_status"])
    put(sc, s, "cpu", r["requests"] > 0 ? r["srv_ticks"] * 1e6 / r["hz"] / r["requests"] : 0)
    put(sc, s, "other", r["other_pct"])
    put(sc, s, "req", r["requests"])
    put(sc, s, "tries", r["tries"])
    if ("files" in r) put(sc, s, "files", r["files"])
    if ("request" in r) how[s] = r["request"]
}

END {
    # ---- 2 KB page: keep-alive 50, keep-alive 1000, connection per request
    if (have("ka50") || have("ka1000") || have("close")) {
        header("Small requests: GET /index.html (2 KB), req/s",
               "scenario|server|req/s|p50 ms|p99 ms|errors|server CPU us/req|other CPU %|" sut " vs best peer")
        split("ka50 ka1000 close", g, " ")
        for (j = 1; j <= 3; j++) {
            sc = g[j]
            if (!have(sc)) continue
            for (i = 1; i <= nsrv; i++) {
                s = srv[i]
                if (!cnt[sc, s, "n"]) continue
                rt = "-"
                if (s == sut) {
                    rt = ratio(sc, "rps", 0)
                    if (sc == "ka1000" && peers(sc)) rt = rt "; p99 " ratio(sc, "p99", 1)
                }
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc, s,
                    cell(sc, s, "rps"), cell(sc, s, "p50"), cell(sc, s, "p99"),
                    fmtint(total(sc, s, "err")) (failed[sc, s] ? " (" failed[sc, s] " runs failed)" : ""),
                    cell(sc, s, "cpu"), celli(sc, s, "other"), rt
            }
        }
        print "\nka50: 50 keep-alive connections; ka1000: 1000 (its p99 ratio: lower is better);" \
              " close: a new connection per request, 50 at a time."
    }

    # ---- files
    if (have("mid") || have("big")) {
        header("Files: GET /mid.bin (200 KB, 50 connections), GET /big.bin (50 MB, 4 connections)",
               "scenario|server|req/s|MB/s|p99 ms|errors|server CPU us/req|other CPU %|" sut " vs best peer")
        split("mid big", g, " ")
        for (j = 1; j <= 2; j++) {
            sc = g[j]
            if (!have(sc)) continue
            for (i = 1; i <= nsrv; i++) {
                s = srv[i]
                if (!cnt[sc, s, "n"]) continue
                rt = s == sut && peers(sc) ? ratio(sc, sc == "big" ? "mbs" : "rps", 0) (sc == "big" ? " MB/s" : " req/s") : "-"
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc, s,
                    cell(sc, s, "rps"), cell(sc, s, "mbs"), cell(sc, s, "p99"),
                    fmtint(total(sc, s, "err")) (failed[sc, s] ? " (" failed[sc, s] " runs failed)" : ""),
                    cell(sc, s, "cpu"), celli(sc, s, "other"), rt
            }
        }
        print "\nMB/s = 10^6 bytes per second of response (headers and body)."
    }

    # ---- uploads
    if (have("upload")) {
        sc = "upload"
        header("Uploads: 195-byte JSON body, 50 keep-alive connections, stored on tmpfs, req/s",
               "server|request|req/s|p99 ms|errors|files stored / requests|server CPU us/req|other CPU %|" sut " vs best peer")
        for (i = 1; i <= nsrv; i++) {
            s = srv[i]
            if (!cnt[sc, s, "n"]) continue
            rq = how[s]; sub(/:/, " ", rq)
            if (rq ~ /\/$/) rq = rq "NEW.json"
            printf "| %s | %s | %s | %s | %s | %s / %s | %s | %s | %s |\n", s, rq,
                cell(sc, s, "rps"), cell(sc, s, "p99"),
                fmtint(total(sc, s, "err")) (failed[sc, s] ? " (" failed[sc, s] " runs failed)" : ""),
                fmtint(total(sc, s, "files")), fmtint(total(sc, s, "req")),
                cell(sc, s, "cpu"), celli(sc, s, "other"), s == sut ? ratio(sc, "rps", 0) : "-"
        }
        print "\nmthttpd writes to a temporary file, fsyncs it and the directory (cheap on tmpfs);" \
              " the peers' WebDAV / mruby handlers do not fsync."
    }

    # ---- TLS
    if (have("tls_close") || have("tls_ka50") || have("tls_big")) {
        header("HTTPS (TLS 1.3, ECDSA P-256): handshakes, keep-alive requests, a 50 MB file",
               "scenario|server|req/s|MB/s|p99 ms|errors|server CPU us/req|other CPU %|" sut " vs best peer")
        split("tls_close tls_ka50 tls_big", g, " ")
        for (j = 1; j <= 3; j++) {
            sc = g[j]
            if (!have(sc)) continue
            for (i = 1; i <= nsrv; i++) {
                s = srv[i]
                if (!cnt[sc, s, "n"]) continue
                rt = "-"
                if (s == sut && peers(sc))
                    rt = (sc == "tls_big" ? ratio(sc, "mbs", 0) " MB/s" : ratio(sc, "rps", 0) " req/s") \
                         "; CPU " ratio(sc, "cpu", 1)
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc, s,
                    cell(sc, s, "rps"), cell(sc, s, "mbs"), cell(sc, s, "p99"),
                    fmtint(total(sc, s, "err")) (failed[sc, s] ? " (" failed[sc, s] " runs failed)" : ""),
                    cell(sc, s, "cpu"), celli(sc, s, "other"), rt
            }
        }
        print "\ntls_close: a new TLS connection per request (wrk resumes with the last ticket it received), 50 at a" \
              " time: req/s = handshakes/s, CPU us/req = server CPU per handshake.  tls_ka50: 50" \
              " keep-alive TLS connections, /index.html.  tls_big: /big.bin over 4 connections." \
              "  CPU ratio: lower is better."
    }

    # ---- idle connections
    if (have("idle")) {
        sc = "idle"
        header("Idle keep-alive connections: memory per connection, and a fresh request meanwhile",
               "server|held (of asked)|still open at the end|RSS before MiB|RSS held MiB|PSS held MiB|KiB/conn (PSS)|KiB/conn (RSS)|fresh request ms: median (max)|" sut " vs best peer")
        for (i = 1; i <= nsrv; i++) {
            s = srv[i]
            if (!cnt[sc, s, "n"]) continue
            if (cnt[sc, s, "ok"] == 0) {
                printf "| %s | failed |  |  |  |  |  |  |  |  |\n", s
                continue
            }
            lm = med(sc, s, "lat"); lh = HI
            printf "| %s | %s of %s | %s | %s | %s | %s | %s | %s | %s (%s)%s | %s |\n", s,
                fmtint(med(sc, s, "ok")), fmtint(med(sc, s, "conns")), fmtint(med(sc, s, "alive")),
                cell(sc, s, "rss0"), cell(sc, s, "rss1"), cell(sc, s, "pss1"),
                cell(sc, s, "kib_pss"), cell(sc, s, "kib_rss"), fmt(lm), fmt(lh),
                bad[s] != "" ? ", status" bad[s] : "",
                s == sut && peers(sc) ? "KiB/conn " ratio(sc, "kib_pss", 1) "; latency " ratio(sc, "lat", 1) : "-"
        }
        print "\nKiB/conn = growth of the server's process tree (all its processes) while the" \
              " connections are held, divided by their number; kernel socket memory is not" \
              " included.  PSS counts shared pages once.  Ratios here: lower is better."
    }
}
