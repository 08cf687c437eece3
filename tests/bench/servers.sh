# shellcheck shell=bash
# tests/bench/servers.sh - sourced by bench.sh and cost.sh.
#
# One place for everything both scripts need to run a server: the Debian
# packages, the document root, the configuration of mthttpd and of each
# peer, the command that starts it in the foreground, and process-tree
# helpers.  Nothing here runs on its own.
#
# The settings every server gets (the "common settings"):
#   keep-alive idle timeout 30 s; at most 1000 requests per connection (h2o
#   2.2 has no such knob); listen backlog 4096; room for >= 16k connections
#   (bounded by RLIMIT_NOFILE, which the caller raises); an access log
#   written to a file; sendfile where the server has it; bound to 127.0.0.1.
#
# Per-server choices (see each writer): nginx runs one worker process and
# h2o one event-loop thread, i.e. one event loop per CPU the servers are
# pinned to (SRV_NCPU), as both projects recommend; Apache's event MPM is a
# thread pool and gets enough threads for 1000 busy and 10k idle
# connections; mthttpd keeps its default pool_size (10 workers), because
# that is what users run and its workers share one epoll set, so extra
# threads on one CPU only cost an idle stack each.
#
# Uploads: mthttpd answers POST /upload (application/json) itself.  nginx,
# lighttpd and Apache store a body with WebDAV PUT to a fresh name under
# /dav/ (nginx-light has the dav module built in, lighttpd needs
# lighttpd-mod-webdav, Apache mod_dav_fs); h2o has no WebDAV, so an mruby
# handler writes POST /upload bodies to a file.
#
# TLS: with a TLS port, every server also listens there with the same ECDSA
# P-256 certificate (make_tls_cert), TLS 1.2 and 1.3 only, the TLS 1.2
# suites of Mozilla's "intermediate" profile (BENCH_TLS12_CIPHERS) and
# OpenSSL's default TLS 1.3 suites, no server cipher preference: every
# server negotiates the same suite with the same client.
#
# Variables the caller sets before using these functions:
#   MTHTTPD_BIN  the mthttpd binary
#   FD_LIMIT     the RLIMIT_NOFILE the servers start with
#   SRV_NCPU     CPUs the servers may use (1 when pinned)
#   TLS_CERT, TLS_KEY  the certificate and key (when a TLS port is given)

# shellcheck disable=SC2034 # (used by the scripts that source this file)
BENCH_PEERS_ALL="nginx lighttpd apache h2o"
# Mozilla "intermediate" (TLS 1.2 part; only the ECDSA suites apply to
# the ECDSA certificate)
BENCH_TLS12_CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

# srv_packages NAME -> the Debian packages that server needs
srv_packages() {
    case $1 in
    mthttpd) ;;
    nginx) echo nginx-light ;;
    lighttpd) echo lighttpd lighttpd-mod-webdav lighttpd-mod-openssl ;;
    apache) echo apache2 ;;
    h2o) echo h2o ;;
    esac
}

# srv_present NAME -> true when the server's binaries and modules are there
srv_present() {
    case $1 in
    mthttpd) [ -x "$MTHTTPD_BIN" ] ;;
    nginx) command -v nginx > /dev/null ;;
    lighttpd) command -v lighttpd > /dev/null && [ -e /usr/lib/lighttpd/mod_webdav.so ] &&
        [ -e /usr/lib/lighttpd/mod_openssl.so ] ;;
    apache) command -v apache2 > /dev/null && [ -e /usr/lib/apache2/modules/mod_mpm_event.so ] ;;
    h2o) command -v h2o > /dev/null ;;
    esac
}

# apt_install PKG... - install Debian packages without starting their
# services: on a fresh machine nginx, lighttpd and Apache would all try to
# bind port 80, and a failed start fails the installation.  A temporary
# policy-rc.d (the Debian mechanism for this) forbids the starts; one that
# already exists is left alone.
apt_install() {
    local rc policy=/usr/sbin/policy-rc.d ours=0
    [ $# -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "installing needs root: apt-get install $*" >&2
        return 1
    fi
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        ours=1
        # (the callers set their own traps only after installing)
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        trap 'exit 130' INT TERM
    fi
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
    rc=$?
    if [ "$ours" = 1 ]; then
        rm -f "$policy"
        trap - EXIT INT TERM
    fi
    return $rc
}

# need_packages INSTALL PEERS TOOL:PACKAGE... - the packages of
# the TOOLs not on PATH and of the PEERS not
# installed: installed when INSTALL is 1, else named and exit 2; then check
# that $MTHTTPD_BIN is there (both scripts start with this)
need_packages() {
    local install=$1 peers=$2 pair s missing=()
    shift 2
    for pair in "$@"; do
        command -v "${pair%%:*}" > /dev/null || missing+=("${pair#*:}")
    done
    for s in $peers; do
        # shellcheck disable=SC2207 # (package names have no spaces)
        srv_present "$s" || missing+=($(srv_packages "$s"))
    done
    set -- "${missing[@]}"
    if [ $# -gt 0 ]; then
        if [ "$install" = 1 ]; then
            apt_install "$@" || exit 1
        else
            echo "missing packages: $*  (apt-get install them, or run with --install)" >&2
            exit 2
        fi
    fi
    [ -x "$MTHTTPD_BIN" ] || { echo "no mthttpd binary at $MTHTTPD_BIN (build first, or --bin PATH)" >&2; exit 2; }
}

# raise_fd_limit - every connection is a file descriptor on both ends: the
# soft limit goes up to the hard one (at most 65536; the servers inherit
# it); sets FD_LIMIT
raise_fd_limit() {
    local hard
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] && hard=65536
    [ "$hard" -gt 65536 ] && hard=65536
    ulimit -n "$hard" 2> /dev/null
    FD_LIMIT=$(ulimit -n)
}

# make_upload_base WORK NAME - a directory for the servers' uploads, on a
# tmpfs when there is one: creating a file on a disk file system costs
# more (and varies more) than the servers' own work; prints its path
make_upload_base() {
    local d
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        d=$(mktemp -d "/dev/shm/$2.XXXXXX") || return 1
    else
        d=$1/uploads
        mkdir -p "$d" || return 1
    fi
    chmod 755 "$d" && echo "$d"
}

# make_docroot DIR BODYFILE - the pages every server serves, and the upload
# body: index.html (2048 bytes of HTML), mid.bin (200 KiB), big.bin (50 MiB),
# BODYFILE (a 195-byte JSON document).
make_docroot() {
    local d=$1 body=$2 page i
    mkdir -p "$d"
    page='<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mthttpd bench</title></head>
<body><h1>mthttpd benchmark page</h1><ol>'
    for i in $(seq 1 20); do
        page="$page
<li><a href=\"/mid.bin\">entry $i</a>: a line of text about as long as a real one.</li>"
    done
    page="$page
</ol><p>"
    # pad with a fixed character to exactly 2048 bytes, then close the page
    local tail='</p></body></html>
'
    local pad=$((2048 - ${#page} - ${#tail}))
    [ "$pad" -ge 0 ] || { echo "make_docroot: page too long" >&2; return 1; }
    { printf '%s' "$page"; head -c "$pad" /dev/zero | tr '\0' '.'; printf '%s' "$tail"; } > "$d/index.html"
    head -c $((200 * 1024)) /dev/urandom > "$d/mid.bin"
    head -c $((50 * 1024 * 1024)) /dev/urandom > "$d/big.bin"
    chmod -R a+rX "$d"
    # a site's files are not seconds old: mthttpd does not keep a file
    # modified within the last second in its cache, and the first second
    # of a run must not measure that
    touch -d '1 hour ago' "$d/index.html" "$d/mid.bin" "$d/big.bin"
    # 195 bytes of JSON, the size the issue's upload row uses
    local json='{"sensor":"bench-17","time":"2025-01-01T12:00:00Z","values":[21.5,21.7,21.6],"unit":"C","ok":true,"note":"'
    local jtail='"}'
    { printf '%s' "$json"; head -c $((195 - ${#json} - ${#jtail})) /dev/zero | tr '\0' 'n'; printf '%s' "$jtail"; } > "$body"
    [ "$(stat -c %s "$d/index.html")" = 2048 ] && [ "$(stat -c %s "$body")" = 195 ]
}

# make_tls_cert DIR - a self-signed ECDSA P-256 certificate for localhost
# and 127.0.0.1 (the load generators do not verify it); sets TLS_CERT and
# TLS_KEY.  Every server reads the key as root before dropping privileges.
make_tls_cert() {
    TLS_CERT=$1/tls-cert.pem TLS_KEY=$1/tls-key.pem
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$TLS_KEY" -out "$TLS_CERT" 2> /dev/null
}

# srv_config NAME DIR PORT DOCROOT UPLOADDIR [TLSPORT] - write NAME's
# configuration into DIR (also its logs and pid file live there).
# UPLOADDIR receives the uploaded bodies and must be empty-able while the
# server runs.  With TLSPORT the server also serves the same site with TLS
# there ($TLS_CERT, $TLS_KEY).
srv_config() {
    local name=$1 d=$2 port=$3 root=$4 up=$5
    TLS_PORT=${6:-}
    mkdir -p "$d" "$up"
    # the peers drop root (nobody, www-data) and must write logs and uploads
    chmod 1777 "$d" "$up"
    "cfg_$name" "$d" "$port" "$root" "$up"
}

# srv_upload NAME -> "METHOD PATH"; a PATH ending in / gets a fresh file
# name appended for every request
srv_upload() {
    case $1 in
    mthttpd | h2o) echo "POST /upload" ;;
    *) echo "PUT /dav/" ;;
    esac
}

# srv_exec NAME DIR [single] [PREFIX...] - exec the server in the
# foreground, behind PREFIX (e.g. taskset, valgrind).  "single" asks for one
# process doing all the work (for callgrind): nginx without its master,
# Apache with -X.  Meant for a background subshell, so that $! is the server.
srv_exec() {
    local name=$1 d=$2 single=0
    shift 2
    if [ "${1:-}" = single ]; then single=1; shift; fi
    case $name in
    mthttpd) exec "$@" "$MTHTTPD_BIN" -c "$d/mthttpd.conf" ;;
    nginx)
        if [ "$single" = 1 ]; then
            exec "$@" nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off; master_process off;'
        fi
        exec "$@" nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;' ;;
    lighttpd) exec "$@" lighttpd -D -f "$d/lighttpd.conf" ;;
    apache)
        if [ "$single" = 1 ]; then exec "$@" apache2 -f "$d/httpd.conf" -X; fi
        exec "$@" apache2 -f "$d/httpd.conf" -DFOREGROUND ;;
    h2o) exec "$@" h2o -c "$d/h2o.conf" ;;
    esac
    echo "unknown server $name" >&2
    exit 2
}

cfg_mthttpd() {
    local d=$1 port=$2 root=$3 up=$4
    # pool_size is left at its default (10): see the head of this file.
    # listen(2) backlog: mthttpd always asks for 4096 (LISTENER_BACKLOG);
    # connections: no cap of its own, RLIMIT_NOFILE bounds them.
    # MTHTTPD_CONF_EXTRA (environment): more lines for its config, e.g.
    # 'busy_poll = 500;' to compare with polling (the default is 0).
    cat > "$d/mthttpd.conf" <<EOF
# generated by tests/bench/servers.sh
port = $port;
listen_address = "127.0.0.1";
document_root = "$root";
uploads_dir = "$up";
allowed_hosts = ["localhost", "127.0.0.1"];
keepalive_timeout = 30;
max_requests = 1000;
queue_size = 4096;
access_log = "$d/access.log";
log_level = "warning";
${MTHTTPD_CONF_EXTRA:-}
EOF
    [ -n "$TLS_PORT" ] && cat >> "$d/mthttpd.conf" <<EOF
tls = {
  port = $TLS_PORT;
  certificates = ( { certificate = "$TLS_CERT"; key = "$TLS_KEY"; } );
  min_version = "TLSv1.2";
};
EOF
    return 0
}

cfg_nginx() {
    local d=$1 port=$2 root=$3 up=$4
    mkdir -p "$d/body"
    chmod 1777 "$d/body"
    # body temp files on the same file system as the uploads, so a PUT is
    # a rename and not a copy
    local tmp
    tmp=$(dirname "$up")/nginx-body
    mkdir -p "$tmp"
    chmod 1777 "$tmp"
    cat > "$d/nginx.conf" <<EOF
# generated by tests/bench/servers.sh
worker_processes ${SRV_NCPU:-1};
worker_rlimit_nofile $FD_LIMIT;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 16384; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $d/access.log combined;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 30s;
    client_body_temp_path $tmp;
    proxy_temp_path $d/body;
    fastcgi_temp_path $d/body;
    uwsgi_temp_path $d/body;
    scgi_temp_path $d/body;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $root;
        index index.html;
        location /dav/ {
            alias $up/;
            dav_methods PUT;
            create_full_put_path off;
            client_max_body_size 1m;
        }
    }
$([ -n "$TLS_PORT" ] && cat <<TLS
    server {
        listen 127.0.0.1:$TLS_PORT ssl backlog=4096;
        root $root;
        index index.html;
        ssl_certificate $TLS_CERT;
        ssl_certificate_key $TLS_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers $BENCH_TLS12_CIPHERS;
        ssl_prefer_server_ciphers off;
    }
TLS
)
}
EOF
}

cfg_lighttpd() {
    local d=$1 port=$2 root=$3 up=$4
    # lighttpd caps max-connections at half its fds (room for the files it
    # serves); with a low RLIMIT_NOFILE hard limit that is below 16k
    local conns=$((FD_LIMIT / 2 < 16384 ? FD_LIMIT / 2 : 16384))
    cat > "$d/lighttpd.conf" <<EOF
# generated by tests/bench/servers.sh
server.modules = ( "mod_access", "mod_alias", "mod_webdav", "mod_accesslog" )
server.document-root = "$root"
server.bind = "127.0.0.1"
server.port = $port
server.username = "www-data"
server.groupname = "www-data"
server.pid-file = "$d/lighttpd.pid"
server.errorlog = "$d/error.log"
accesslog.filename = "$d/access.log"
server.event-handler = "linux-sysepoll"
server.network-backend = "sendfile"
server.max-fds = $FD_LIMIT
server.max-connections = $conns
server.listen-backlog = 4096
server.max-keep-alive-idle = 30
server.max-keep-alive-requests = 1000
server.stat-cache-engine = "simple"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".json" => "application/json",
                    "" => "application/octet-stream" )
alias.url = ( "/dav/" => "$up/" )
\$HTTP["url"] =~ "^/dav/" {
    webdav.activate = "enable"
    webdav.is-readonly = "disable"
}
EOF
    [ -n "$TLS_PORT" ] && cat >> "$d/lighttpd.conf" <<EOF
server.modules += ( "mod_openssl" )
\$SERVER["socket"] == "127.0.0.1:$TLS_PORT" {
    ssl.engine = "enable"
    ssl.pemfile = "$TLS_CERT"
    ssl.privkey = "$TLS_KEY"
    ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.2",
                                 "CipherString" => "$BENCH_TLS12_CIPHERS",
                                 "Options" => "-ServerPreference" )
}
EOF
    return 0
}

cfg_apache() {
    local d=$1 port=$2 root=$3 up=$4 m=/usr/lib/apache2/modules
    mkdir -p "$d/run" "$d/lock"
    chown www-data "$d/lock" 2> /dev/null || chmod 1777 "$d/lock"
    # Event MPM sizing.  A child stops accepting, and closes its idle
    # keep-alive connections, once it holds more than ThreadsPerChild +
    # AsyncRequestWorkerFactor x (idle threads) connections; with Debian's
    # default (2 children, 25 threads) or even 2 children of 64 threads,
    # 1000 busy connections trip that and wrk sees hundreds of resets.  So
    # all 16 children (1024 threads) are started up front and kept
    # (MaxSpareThreads), and the factor is large enough for 10k idle
    # keep-alive connections.
    cat > "$d/httpd.conf" <<EOF
# generated by tests/bench/servers.sh
ServerRoot /etc/apache2
DefaultRuntimeDir $d/run
PidFile $d/httpd.pid
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule mime_module $m/mod_mime.so
LoadModule dir_module $m/mod_dir.so
LoadModule alias_module $m/mod_alias.so
LoadModule dav_module $m/mod_dav.so
LoadModule dav_fs_module $m/mod_dav_fs.so
User www-data
Group www-data
ServerName localhost
Listen 127.0.0.1:$port
ListenBacklog 4096
StartServers 16
ServerLimit 16
ThreadLimit 64
ThreadsPerChild 64
MinSpareThreads 64
MaxSpareThreads 1024
MaxRequestWorkers 1024
AsyncRequestWorkerFactor 400
MaxConnectionsPerChild 0
KeepAlive On
KeepAliveTimeout 30
MaxKeepAliveRequests 1000
EnableSendfile On
HostnameLookups Off
TypesConfig /etc/mime.types
ErrorLog $d/error.log
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
CustomLog $d/access.log combined
DocumentRoot $root
DirectoryIndex index.html
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<Directory $root>
    Options FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>
DAVLockDB $d/lock/dav
Alias /dav/ $up/
<Directory $up>
    Dav On
    AllowOverride None
    Require all granted
</Directory>
EOF
    [ -n "$TLS_PORT" ] && cat >> "$d/httpd.conf" <<EOF
LoadModule socache_shmcb_module $m/mod_socache_shmcb.so
LoadModule ssl_module $m/mod_ssl.so
SSLSessionCache shmcb:$d/run/ssl_scache(512000)
Listen 127.0.0.1:$TLS_PORT
<VirtualHost 127.0.0.1:$TLS_PORT>
    SSLEngine on
    SSLCertificateFile $TLS_CERT
    SSLCertificateKeyFile $TLS_KEY
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLCipherSuite $BENCH_TLS12_CIPHERS
    SSLHonorCipherOrder off
</VirtualHost>
EOF
    return 0
}

cfg_h2o() {
    local d=$1 port=$2 root=$3 up=$4
    # h2o 2.2: http1-request-timeout is also the keep-alive idle timeout;
    # there is no per-connection request cap and no listen-backlog knob
    # (it asks for 65535, clamped to net.core.somaxconn).
    cat > "$d/h2o.conf" <<EOF
# generated by tests/bench/servers.sh
listen:
  host: 127.0.0.1
  port: $port
$([ -n "$TLS_PORT" ] && cat <<TLS
listen:
  host: 127.0.0.1
  port: $TLS_PORT
  ssl:
    certificate-file: $TLS_CERT
    key-file: $TLS_KEY
    minimum-version: TLSv1.2
    cipher-suite: $BENCH_TLS12_CIPHERS
    cipher-preference: client
TLS
)
num-threads: ${SRV_NCPU:-1}
max-connections: 16384
http1-request-timeout: 30
pid-file: $d/h2o.pid
error-log: $d/error.log
access-log: $d/access.log
hosts:
  default:
    paths:
      /upload:
        mruby.handler: |
          count = 0
          Proc.new do |env|
            if env["REQUEST_METHOD"] != "POST"
              [405, {"content-type" => "text/plain"}, ["POST only\n"]]
            else
              count += 1
              name = "$up/h2o-#{env["REMOTE_PORT"]}-#{count}-#{rand(1000000000)}.json"
              File.open(name, "w") { |f| f.write(env["rack.input"].read) }
              [201, {"content-type" => "application/json"}, ["{\"stored\":true}\n"]]
            end
          end
      /:
        file.dir: $root
EOF
}

# tree_pids PID -> PID and all its descendants, one per line
tree_pids() {
    ps -e -o pid=,ppid= | awk -v top="$1" '
        { child[$2] = child[$2] " " $1 }
        END {
            n = 1; q[1] = top
            for (i = 1; i <= n; i++) {
                print q[i]
                k = split(child[q[i]], c, " ")
                for (j = 1; j <= k; j++) q[++n] = c[j]
            }
        }'
}

# stop_tree PID [SECONDS] - SIGTERM the process, wait for it and its
# descendants to leave (bounded), then SIGKILL what is left.  Only PIDs
# found below PID are touched.
stop_tree() {
    stop_trees "${2:-5}" "$1"
}

# stop_trees SECONDS PID... - the same for several servers at once
stop_trees() {
    local wait=$1 top all="" p i alive
    shift
    for top in "$@"; do
        kill -0 "$top" 2> /dev/null || continue
        all="$all $(tree_pids "$top")"
        kill -TERM "$top" 2> /dev/null
    done
    for i in $(seq 1 $((wait * 10))); do
        alive=0
        for p in $all; do kill -0 "$p" 2> /dev/null && alive=1 && break; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in $all; do kill -KILL "$p" 2> /dev/null; done
    for top in "$@"; do wait "$top" 2> /dev/null; done
    return 0
}

# port_in_use PORT - true when something accepts on 127.0.0.1:PORT
port_in_use() {
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
}

# pick_port FROM -> the first port >= FROM that nothing listens on
pick_port() {
    local p=$1
    while port_in_use "$p"; do
        p=$((p + 1))
        [ "$p" -lt 65000 ] || { echo "no free port" >&2; return 1; }
    done
    echo "$p"
}

# wait_serving PORT PID SECONDS [https] - until /index.html comes back with
# 2048 bytes; false when PID died or the time ran out
wait_serving() {
    local port=$1 pid=$2 i size scheme=${4:-http}
    for i in $(seq 1 $(($3 * 10))); do
        size=$(curl -k -s -m 2 -o /dev/null -w '%{http_code} %{size_download}' "$scheme://127.0.0.1:$port/index.html")
        [ "$size" = "200 2048" ] && return 0
        kill -0 "$pid" 2> /dev/null || return 1
        sleep 0.1
    done
    return 1
}

# list_has LIST WORD - LIST is comma- or space-separated
list_has() {
    case " ${1//,/ } " in *" $2 "*) return 0 ;; esac
    return 1
}

# busy ticks of the whole machine (everything but idle and iowait)
machine_ticks() {
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

now_ms() { date +%s%3N; }

# wait_quiet MS - wait (at most MS) until the whole machine has been below
# 20 % of one CPU for a quarter of a second; 1 if it never was
wait_quiet() {
    local end a b hz
    hz=$(getconf CLK_TCK)
    end=$(($(now_ms) + $1))
    while :; do
        a=$(machine_ticks)
        sleep 0.25
        b=$(machine_ticks)
        [ $(((b - a) * 100 * 4)) -lt $((20 * hz)) ] && return 0
        [ "$(now_ms)" -lt "$end" ] || return 1
    done
}
