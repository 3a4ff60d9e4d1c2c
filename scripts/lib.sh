# shellcheck shell=bash
# Shared helpers for scripts/up, scripts/down, scripts/test and scripts/bench-rpc.
# Source it; it only defines functions and a few variables, and works under `set -euo pipefail`.
#
# Local state lives in .buildrisk/ at the repo root (git-ignored):
#   secrets.env          BUILDRISK_SERVICE_SECRET, BUILDRISK_ADMIN_TOKEN (mode 600)
#   pg/                  private PostgreSQL: password (600), port, cluster-path (where the
#                        cluster lives: normally pg/cluster, owned by the cluster owner)
#   tls/ data/ logs/ run/ up.env   written by scripts/up

# The eight services, in port order (default ports 8101..8108), and their env-var prefixes.
BR_SERVICES=(gateway source-validator ingestor feature-extractor scanner-bridge predictor dataset-splitter training-orchestrator)

br_log() { printf '==> %s\n' "$*" >&2; }
br_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# cd to the repo root (the parent of scripts/) and set br_state / BR_ROOT.
br_root() {
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
    cd "$here" || return 1
    BR_ROOT="$here"
    br_state="$here/.buildrisk"
    mkdir -p "$br_state"
}

br_is_root() { [ "$(id -u)" -eq 0 ]; }

# gateway -> GATEWAY, source-validator -> SOURCE_VALIDATOR
br_prefix() { local p="${1//-/_}"; printf '%s' "${p^^}"; }

# Default internal port of a service: 8101 + its index in BR_SERVICES.
br_default_port() {
    local i
    for i in "${!BR_SERVICES[@]}"; do
        if [ "${BR_SERVICES[$i]}" = "$1" ]; then printf '%s' $((8101 + i)); return 0; fi
    done
    br_die "unknown service: $1"
}

# Port of a service, honouring <PREFIX>_PORT from the environment.
br_port() {
    local var
    var="$(br_prefix "$1")_PORT"
    printf '%s' "${!var:-$(br_default_port "$1")}"
}

# ---------------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------------

# git: the GitHub sandbox writes its repositories with `git fast-import`.
BR_APT_PACKAGES=(libgit2-dev libxgboost-dev zlib1g-dev pkg-config libpq-dev libcurl4-openssl-dev libnghttp2-dev postgresql git curl ca-certificates openssl python3)

# Installs whichever of BR_APT_PACKAGES are missing. apt-get update runs only when something is
# missing, so the usual case costs a few dpkg-query calls and no network.
br_ensure_packages() {
    local missing=() p status
    for p in "${BR_APT_PACKAGES[@]}"; do
        # `dpkg -s` also succeeds for removed-but-not-purged packages; check the real state.
        status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
        [ "$status" = "installed" ] || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    local sudo=()
    if ! br_is_root; then
        command -v sudo >/dev/null 2>&1 || br_die "missing packages (${missing[*]}) and no sudo to install them"
        sudo=(sudo)
    fi
    br_log "installing apt packages: ${missing[*]}"
    local log
    log="$(mktemp)"
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        br_die "apt-get install failed for: ${missing[*]}"
    fi
    rm -f "$log"
}

# ---------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------

# Prints a TCP port that is free on 127.0.0.1 right now (the kernel picks it).
br_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    # Fallback without python3: random ports until one refuses a connection.
    local port i
    for i in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        br_port_in_use "$port" || { printf '%s\n' "$port"; return 0; }
    done
    br_die "no free port found"
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
br_port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Private PostgreSQL
# ---------------------------------------------------------------------------------------------

# Newest installed PostgreSQL server binaries.
br_pg_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$d" ] || [ ! -x "$d/pg_ctl" ]; then
        br_die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt package postgresql)"
    fi
    printf '%s' "$d"
}

# Runs a command as the cluster owner: initdb/pg_ctl refuse to run as root, so as root we switch
# to `postgres`; otherwise we run as ourselves. cd / first: the caller's cwd may not be readable
# by postgres, which makes initdb and the server complain.
br_pg_run() {
    if br_is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Where the cluster lives. Normally .buildrisk/pg/cluster; but as root the repo may sit below a
# directory postgres cannot traverse (e.g. /root/...), and we do not want to loosen permissions
# of directories we do not own. Then the cluster goes to /var/tmp/buildrisk-pg-<hash of repo
# path>, owned by postgres. The choice is recorded in .buildrisk/pg/cluster so every script
# (and a later run) finds the same one.
br_pg_cluster_dir() {
    local ref="$br_state/pg/cluster-path"
    if [ -s "$ref" ]; then cat "$ref"; return; fi
    local dir="$br_state/pg/cluster"
    if br_is_root; then
        # .buildrisk and .buildrisk/pg must be traversable (not listable) by postgres.
        chmod 711 "$br_state" "$br_state/pg"
        if ! (cd / && runuser -u postgres -- test -x "$br_state/pg"); then
            local hash
            hash="$(printf '%s' "$BR_ROOT" | sha256sum | cut -c1-12)"
            dir="/var/tmp/buildrisk-pg-$hash"
        fi
    fi
    printf '%s\n' "$dir" >"$ref"
    printf '%s' "$dir"
}

# Sets BR_PG_BIN, BR_PG_CLUSTER, BR_PG_DATA, BR_PG_LOG, BR_PG_SOCK for the private cluster.
br_pg_paths() {
    mkdir -p "$br_state/pg"
    BR_PG_BIN="$(br_pg_bin)"
    BR_PG_CLUSTER="$(br_pg_cluster_dir)"
    BR_PG_DATA="$BR_PG_CLUSTER/data"
    BR_PG_LOG="$BR_PG_CLUSTER/postgres.log"
    # Unix socket paths are limited to ~107 bytes; a deep checkout would overflow them. The
    # socket is only a side door (we connect over TCP), so use a short private dir when needed.
    BR_PG_SOCK="$BR_PG_CLUSTER"
    if [ $(( ${#BR_PG_SOCK} + 20 )) -gt 100 ]; then
        BR_PG_SOCK="/tmp/.buildrisk-pg-$(printf '%s' "$BR_PG_CLUSTER" | sha256sum | cut -c1-12)"
    fi
}

# True when the private cluster's server is running.
br_pg_running() {
    [ -f "$BR_PG_DATA/PG_VERSION" ] || return 1
    br_pg_clear_stale_pid
    br_pg_run "$BR_PG_BIN/pg_ctl" -D "$BR_PG_DATA" status >/dev/null 2>&1
}

# Removes postmaster.pid when its postmaster is gone. A killed postmaster can linger as a zombie
# (an init that reaps slowly, seen in this sandbox): kill -0 still succeeds on it, so pg_ctl
# would call it running and postgres would refuse to start over its lock file.
br_pg_clear_stale_pid() {
    local pidfile="$BR_PG_DATA/postmaster.pid" pid state
    [ -f "$pidfile" ] || return 0
    pid="$(head -n 1 "$pidfile")"
    [ -n "$pid" ] || return 0
    state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null || true)"
    if [ -z "$state" ] || [ "$state" = "Z" ] || [ "$state" = "X" ]; then
        rm -f "$pidfile"
    fi
}

# Creates dir (mode 700) owned by the cluster owner.
br_pg_mkdir() {
    mkdir -p "$1"
    chmod 700 "$1"
    if br_is_root; then chown postgres:postgres "$1"; fi
}

# True when URL is the private cluster's own superuser URL (as `source .buildrisk/up.env`
# exports it), whatever port it names: the password is this checkout's.
br_pg_is_private_url() {
    local password
    password="$(cat "$br_state/pg/password" 2>/dev/null || true)"
    [ -n "$password" ] && [[ "$1" == "postgres://app:$password@127.0.0.1:"*"/buildrisk" ]]
}

# URL without its password, for messages.
br_url_without_password() { printf '%s' "$1" | sed -E 's#^([a-z]+://[^:/@]*):[^@]*@#\1@#'; }

# Ensures a PostgreSQL is available and exports DATABASE_URL (superuser URL, TCP on 127.0.0.1,
# database `buildrisk`).
# - DATABASE_URL set to the private cluster's URL (a shell that sourced .buildrisk/up.env, then
#   ran scripts/down): treated as unset, so the private server is started again.
# - DATABASE_URL set to another server: used as is, nothing is started (BR_PG_STARTED=0); one
#   that does not answer stops the script with one line saying so.
# - else the private cluster is initialised on first use, started if not running, reused if
#   running. BR_PG_STARTED=1 when this call started the server, 0 when it was already running.
br_ensure_postgres() {
    BR_PG_STARTED=0
    if [ -n "${DATABASE_URL:-}" ] && br_pg_is_private_url "$DATABASE_URL"; then
        unset DATABASE_URL
    fi
    if [ -n "${DATABASE_URL:-}" ]; then
        BR_PG_EXTERNAL=1
        if ! "$(br_pg_bin)/pg_isready" -q -t 5 -d "$DATABASE_URL" >/dev/null 2>&1; then
            br_die "DATABASE_URL ($(br_url_without_password "$DATABASE_URL")) does not answer; start that server, or run \`unset DATABASE_URL\` to use the private PostgreSQL"
        fi
        export DATABASE_URL
        return 0
    fi
    BR_PG_EXTERNAL=0
    br_pg_paths
    local pwfile="$br_state/pg/password" portfile="$br_state/pg/port"

    # A cluster without its password file (e.g. .buildrisk/ was deleted while the cluster lived
    # in the /var/tmp fallback) cannot be used: nobody knows the superuser password. It only
    # ever held this checkout's scratch data, so start over.
    if [ -f "$BR_PG_DATA/PG_VERSION" ] && [ ! -s "$pwfile" ]; then
        br_log "private PostgreSQL has no password file: re-initialising it"
        if br_pg_running; then br_pg_run "$BR_PG_BIN/pg_ctl" -D "$BR_PG_DATA" -w -m immediate stop >/dev/null 2>&1 || true; fi
        rm -rf "$BR_PG_DATA"
    fi
    if [ ! -f "$BR_PG_DATA/PG_VERSION" ]; then
        br_log "initialising private PostgreSQL in $BR_PG_DATA"
        # Start from scratch: a half-made cluster from an interrupted initdb is useless.
        if [ -e "$BR_PG_DATA" ]; then rm -rf "$BR_PG_DATA"; fi
        br_pg_mkdir "$BR_PG_CLUSTER"
        (umask 077 && openssl rand -hex 24 >"$pwfile")
        chmod 600 "$pwfile"
        # initdb reads the password from a file that postgres must be able to read: a temp copy
        # inside the (postgres-owned, 700) cluster dir, removed right after.
        local tmp_pw="$BR_PG_CLUSTER/.initdb-pw"
        (umask 077 && cp "$pwfile" "$tmp_pw")
        if br_is_root; then chown postgres:postgres "$tmp_pw"; fi
        local initlog
        initlog="$(mktemp)"
        if ! br_pg_run "$BR_PG_BIN/initdb" -D "$BR_PG_DATA" -U app \
                --auth-local=trust --auth-host=scram-sha-256 --pwfile="$tmp_pw" \
                -E UTF8 --no-locale --no-sync >"$initlog" 2>&1; then
            rm -f "$tmp_pw"
            cat "$initlog" >&2
            rm -f "$initlog"
            br_die "initdb failed"
        fi
        rm -f "$tmp_pw" "$initlog"
    fi

    local port
    if br_pg_running; then
        # Line 4 of postmaster.pid is the port the running server listens on.
        port="$(sed -n 4p "$BR_PG_DATA/postmaster.pid")"
        printf '%s\n' "$port" >"$portfile"
        # It may still be starting up (another script just launched it): wait until it accepts.
        "$BR_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 60 ||
            br_die "private PostgreSQL (pid file in $BR_PG_DATA) does not accept connections on port $port"
    else
        if [ "$BR_PG_SOCK" != "$BR_PG_CLUSTER" ]; then br_pg_mkdir "$BR_PG_SOCK"; fi
        # Keep the previous port when it is still free (stable URLs across restarts); retry with
        # a fresh one if another process grabs it between our check and the server's bind.
        local _ ok=0
        port="$(cat "$portfile" 2>/dev/null || true)"
        for _ in 1 2 3; do
            if [ -z "$port" ] || br_port_in_use "$port"; then port="$(br_free_port)"; fi
            if br_pg_run "$BR_PG_BIN/pg_ctl" -D "$BR_PG_DATA" -w -t 60 -l "$BR_PG_LOG" \
                    -o "-p $port -k $BR_PG_SOCK -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off -c shared_buffers=128MB" \
                    start >/dev/null 2>&1; then
                ok=1
                break
            fi
            port=""
        done
        if [ "$ok" -ne 1 ]; then
            tail -n 30 "$BR_PG_LOG" >&2 2>/dev/null || true
            br_die "could not start the private PostgreSQL (log: $BR_PG_LOG)"
        fi
        printf '%s\n' "$port" >"$portfile"
        BR_PG_STARTED=1
        br_log "private PostgreSQL listening on 127.0.0.1:$port"
    fi

    local password
    password="$(cat "$pwfile")"
    # Connect over TCP with the password: this also proves the URL we export works.
    local -a psql=(env PGPASSWORD="$password" PGCONNECT_TIMEOUT=10 "$BR_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U app)
    if [ "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'buildrisk'")" != "1" ]; then
        "${psql[@]}" -d postgres -c "CREATE DATABASE buildrisk" >/dev/null
    fi
    export DATABASE_URL="postgres://app:$password@127.0.0.1:$port/buildrisk"
}

# Stops the private PostgreSQL if it is running (fast shutdown). No-op otherwise; never touches
# a server reached through an externally given DATABASE_URL.
br_stop_postgres() {
    [ -s "$br_state/pg/cluster-path" ] || return 0
    br_pg_paths
    if br_pg_running; then
        br_pg_run "$BR_PG_BIN/pg_ctl" -D "$BR_PG_DATA" -w -t 60 -m fast stop >/dev/null
        br_log "private PostgreSQL stopped"
    fi
}

# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------

# Creates .buildrisk/secrets.env once (mode 600) and exports BUILDRISK_SERVICE_SECRET and
# BUILDRISK_ADMIN_TOKEN from it. Values already set in the environment win and are what gets
# persisted on first creation.
br_secrets() {
    local file="$br_state/secrets.env"
    if [ ! -s "$file" ]; then
        local secret token
        secret="${BUILDRISK_SERVICE_SECRET:-$(openssl rand -hex 32)}"
        # brk_ + 43 base64url chars: 32 random bytes, base64url without '=' padding.
        token="${BUILDRISK_ADMIN_TOKEN:-brk_$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')}"
        (umask 077 && printf 'BUILDRISK_SERVICE_SECRET=%s\nBUILDRISK_ADMIN_TOKEN=%s\n' "$secret" "$token" >"$file.tmp")
        mv "$file.tmp" "$file"
    fi
    chmod 600 "$file"
    local env_secret="${BUILDRISK_SERVICE_SECRET:-}" env_token="${BUILDRISK_ADMIN_TOKEN:-}"
    # shellcheck disable=SC1090
    . "$file"
    export BUILDRISK_SERVICE_SECRET="${env_secret:-$BUILDRISK_SERVICE_SECRET}"
    export BUILDRISK_ADMIN_TOKEN="${env_token:-$BUILDRISK_ADMIN_TOKEN}"
}

# ---------------------------------------------------------------------------------------------
# Service processes
# ---------------------------------------------------------------------------------------------

# Pid of a running service per its pid file, or nothing. Guards against pid reuse by checking
# that the process really is that executable.
br_service_pid() {
    local pidfile="$br_state/run/$1.pid" pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || return 0
    local exe
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    exe="${exe% (deleted)}"   # the binary was rebuilt while the service ran
    # Just started, the pid may still be nohup or setsid, about to exec the service.
    case "$(basename "$exe")" in "$1"|nohup|setsid) printf '%s' "$pid" ;; esac
}

# Stops a service started by scripts/up: SIGTERM, up to 15 s for a graceful shutdown, SIGKILL.
br_stop_service() {
    local svc="$1" pid i
    pid="$(br_service_pid "$svc")"
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            br_log "$svc (pid $pid) did not stop within 15 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        br_log "stopped $svc (pid $pid)"
    fi
    rm -f "$br_state/run/$svc.pid"
}
