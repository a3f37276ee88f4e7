#!/bin/sh
# The RunMat one-liner:  curl -fsSL https://runmat.org/install.sh | sh
#
# A thin bootstrapper. It fetches runmat-install — the small runmat-install.cjs when a recent
# Node.js is on PATH, else the single binary for this platform — verifies it against the
# release's SHA256SUMS, and runs it with every argument given here. All real work (and its
# telemetry) happens in runmat-install; this script reports only its own early failures.
#
# It is POSIX sh (dash, bash, busybox ash, zsh), made of functions only, and its last line is
# `main "$@" || exit 1`, so a download cut short defines functions but runs nothing. The whole
# script is one { } group as well, so a cut anywhere is a syntax error (a failing exit status)
# rather than a silent success that installed nothing.
{
set -u

# >>> generated from src/contract.ts by `npm run render:bootstrap`: do not edit >>>
DEFAULT_INSTALLER_URL="https://github.com/runmat-org/runmat-install/releases/latest/download"
DEFAULT_TELEMETRY_ENDPOINT="https://runmat.org/api/telemetry"
# What the early-failure events say they come from, as runmat-install's own requests do.
USER_AGENT="runmat-install/0.1.0"
# Exit codes shared with runmat-install (see its README); this script uses some of them.
# shellcheck disable=SC2034
EXIT_INTERNAL=1 EXIT_USAGE=2 EXIT_NETWORK=3 EXIT_INTEGRITY=4 EXIT_PLATFORM=5 EXIT_FILESYSTEM=6 EXIT_VERIFICATION=7 EXIT_NOT_INSTALLED=11 EXIT_INTERRUPTED=130
STATE_DIR=.runmat
TELEMETRY_ID_FILE=telemetry_id
TELEMETRY_SETTINGS_FILE=telemetry.json
INSTALLER_CACHE_DIR=installer
TELEMETRY_ID_PATTERN='^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9]{9,11}-[0-9]{1,6})$'
TELEMETRY_ID_MAX_BYTES=256
NODE_FLOOR_MAJOR=20
NODE_FLOOR_MINOR=18

is_truthy() {
    case "$(lower "$1")" in 1 | true | yes | on) return 0 ;; esac
    return 1
}

is_falsy() {
    case "$(lower "$1")" in 0 | false | no | off) return 0 ;; esac
    return 1
}

# DO_NOT_TRACK opts out with any non-empty value but these.
does_not_track() {
    case "$(lower "$1")" in '' | 0 | false) return 1 ;; esac
    return 0
}

# arch_of MACHINE: sets ARCH_NAME from uname -m's spelling, or returns 1.
arch_of() {
    case "$1" in
        x86_64 | x64 | amd64 | AMD64) ARCH_NAME=x86_64 ;;
        arm64 | aarch64 | ARM64) ARCH_NAME=arm64 ;;
        *) return 1 ;;
    esac
}

# platform_row OS-ARCH: sets RELEASE_PLATFORM and SEA_TARGET, or returns 1.
platform_row() {
    case "$1" in
        linux-x86_64) RELEASE_PLATFORM=linux-x86_64 SEA_TARGET=linux-x64 ;;
        linux-arm64) RELEASE_PLATFORM=linux-aarch64 SEA_TARGET=linux-arm64 ;;
        darwin-x86_64) RELEASE_PLATFORM=macos-x86_64 SEA_TARGET=darwin-x64 ;;
        darwin-arm64) RELEASE_PLATFORM=macos-aarch64 SEA_TARGET=darwin-arm64 ;;
        windows-x86_64) RELEASE_PLATFORM=windows-x86_64 SEA_TARGET=win-x64 ;;
        windows-arm64) RELEASE_PLATFORM=windows-aarch64 SEA_TARGET=win-x64 ;;
        *) return 1 ;;
    esac
}

# telemetry_payload LABEL CID: one event, exactly the contract's keys in its order.
telemetry_payload() {
    printf '{"event_label":"%s","os":"%s","arch":"%s","platform":"%s","release":"%s","method":"%s","cid":"%s"}' \
        "$1" "$OS_NAME" "$ARCH_NAME" "$RELEASE_PLATFORM" "unknown" "shell" "$2"
}
# <<< end of generated block <<<

say() {
    printf 'runmat-install: %s\n' "$1" >&2
}

err() {
    printf 'runmat-install: error: %s\n' "$1" >&2
    if [ -n "${2-}" ]; then
        printf '  hint: %s\n' "$2" >&2
    fi
}

# fail MESSAGE HINT CODE: report, send the early-failure telemetry, and stop.
fail() {
    err "$1" "$2"
    report_early_failure
    exit "$3"
}

need_cmd() {
    if ! command -v "$1" >/dev/null 2>&1; then
        fail "this installer needs '$1', which is not installed" "Install $1 with your package manager and run the installer again." "$EXIT_PLATFORM"
    fi
}

ensure() {
    if ! "$@"; then
        fail "command failed: $*" "Check free disk space and permissions under $HOME/$STATE_DIR, then run the installer again." "$EXIT_FILESYSTEM"
    fi
}

lower() {
    printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}

# Sets OS_NAME, ARCH_NAME (telemetry's values), RELEASE_PLATFORM (RunMat's) and SEA_TARGET.
detect_platform() {
    _os="$(uname -s)"
    _cpu="$(uname -m)"
    case "$_os" in
        Linux) OS_NAME=linux ;;
        Darwin) OS_NAME=darwin ;;
        MINGW* | MSYS* | CYGWIN* | Windows_NT)
            OS_NAME=windows
            fail "this is Windows: use the PowerShell installer" "Run in PowerShell: iwr https://runmat.org/install.ps1 | iex" "$EXIT_PLATFORM"
            ;;
        *)
            OS_NAME="$_os"
            ARCH_NAME="$_cpu"
            fail "RunMat has no prebuilt binary for $_os" "Build from source: https://github.com/runmat-org/runmat#building-from-source" "$EXIT_PLATFORM"
            ;;
    esac
    if ! arch_of "$_cpu"; then
        ARCH_NAME="$_cpu"
        fail "RunMat has no prebuilt binary for $_cpu CPUs" "Prebuilt targets are x86_64 and arm64. Build from source: https://github.com/runmat-org/runmat#building-from-source" "$EXIT_PLATFORM"
    fi
    # An x86_64 shell under Rosetta 2 still runs on Apple silicon: prefer the native build.
    if [ "$OS_NAME" = darwin ] && [ "$ARCH_NAME" = x86_64 ]; then
        if [ "$(sysctl -n sysctl.proc_translated 2>/dev/null)" = 1 ] || [ "$(sysctl -n hw.optional.arm64 2>/dev/null)" = 1 ]; then
            ARCH_NAME=arm64
        fi
    fi
    if [ "$OS_NAME" = linux ]; then
        # A 64-bit kernel with a 32-bit userland cannot run our 64-bit binaries.
        if [ "$(getconf LONG_BIT 2>/dev/null || echo 64)" = 32 ]; then
            fail "this system has a 32-bit userland" "RunMat needs a 64-bit system. Build from source: https://github.com/runmat-org/runmat#building-from-source" "$EXIT_PLATFORM"
        fi
        if ls /lib/ld-musl-* >/dev/null 2>&1 || (ldd --version 2>&1 | grep -qi musl); then
            fail "this Linux uses musl (Alpine?), but RunMat's Linux builds need glibc" "Use a glibc distribution, Alpine's gcompat, or build from source: https://github.com/runmat-org/runmat#building-from-source" "$EXIT_PLATFORM"
        fi
    fi
    platform_row "$OS_NAME-$ARCH_NAME"
}

# Plain http:// only to loopback (the tests); users get HTTPS with TLS 1.2 or newer.
check_url() {
    case "$1" in
        https://*) return 0 ;;
        http://127.0.0.1:* | http://127.0.0.1/* | http://localhost:* | http://localhost/*) return 0 ;;
        *) return 1 ;;
    esac
}

# download URL FILE
download() {
    if ! check_url "$1"; then
        fail "refusing to download over plain HTTP: $1" "Use an https:// URL in RUNMAT_INSTALLER_URL." "$EXIT_NETWORK"
    fi
    case "$1" in
        https://*) _proto='=https' ;;
        *) _proto='=http,https' ;;
    esac
    # A large download shows curl's bar on a terminal; the small files and pipes stay quiet.
    _quiet='--silent'
    if [ "${3-}" = progress ] && [ -t 2 ]; then
        _quiet='--progress-bar'
    fi
    if [ "$DOWNLOADER" = curl ]; then
        curl --proto "$_proto" --proto-redir '=https' --tlsv1.2 --fail "$_quiet" --show-error --location \
            --retry 3 --connect-timeout 30 --output "$2" "$1" || return 1
    elif wget --help 2>&1 | grep -q -- '--secure-protocol'; then
        wget --secure-protocol=TLSv1_2 --tries=3 --timeout=30 --quiet --output-document="$2" "$1" || return 1
    else
        # busybox wget: no TLS options to set; it still verifies HTTPS certificates.
        wget -q -O "$2" "$1" || return 1
    fi
    refuse_web_page "$2" "$1"
}

# refuse_web_page FILE URL: a captive portal's login or a proxy's block page answers with
# 200 and HTML; no file the installer downloads starts with "<", so say what answered instead
# of reporting a missing checksum.
refuse_web_page() {
    if head -c 64 "$1" 2>/dev/null | tr -d ' \t\r\n' | grep -qi '^<\(!doctype\|html\|head\|body\|?xml\)'; then
        rm -f "$1"
        _host="$(printf '%s' "$2" | sed 's|^[a-z]*://||; s|[/?#].*$||')"
        fail "$_host answered with a web page instead of ${2##*/}; a proxy, firewall or captive portal is answering for it" "Open https://$_host/ in a browser: log in to the network, or ask your IT department to allow $_host; then run the installer again." "$EXIT_NETWORK"
    fi
}

choose_downloader() {
    if command -v curl >/dev/null 2>&1; then
        DOWNLOADER=curl
    elif command -v wget >/dev/null 2>&1; then
        DOWNLOADER=wget
    else
        DOWNLOADER=none
        fail "neither curl nor wget is installed" "Install curl (or wget) with your package manager and run the installer again." "$EXIT_PLATFORM"
    fi
}

# Fail closed: without a SHA-256 tool nothing downloaded is ever run.
choose_sha256_tool() {
    for _tool in sha256sum shasum openssl; do
        if command -v "$_tool" >/dev/null 2>&1; then
            SHA256_TOOL="$_tool"
            return 0
        fi
    done
    fail "no SHA-256 tool found (sha256sum, shasum or openssl)" "Install coreutils (or perl's shasum, or openssl) and run the installer again." "$EXIT_INTEGRITY"
}

sha256_of() {
    case "$SHA256_TOOL" in
        sha256sum) sha256sum "$1" | cut -d ' ' -f 1 ;;
        shasum) shasum -a 256 "$1" | cut -d ' ' -f 1 ;;
        openssl) openssl dgst -sha256 "$1" | sed 's/^.*= *//' ;;
    esac
}

expected_sha256() {
    awk -v name="$1" '$2 == name || $2 == "*" name { print $1; exit }' "$SUMS"
}

# verify FILE NAME: FILE must hash to NAME's line in SHA256SUMS.
verify() {
    _expected="$(expected_sha256 "$2")"
    if [ -z "$_expected" ]; then
        fail "SHA256SUMS lists no checksum for $2" "The installer release looks incomplete; try again later." "$EXIT_INTEGRITY"
    fi
    _actual="$(sha256_of "$1")"
    if [ "$_actual" != "$_expected" ]; then
        rm -f "$1"
        fail "checksum mismatch for $2 (expected $_expected, got $_actual)" "The download was corrupted or tampered with; nothing was run. Try again, and report it if it repeats." "$EXIT_INTEGRITY"
    fi
}

node_is_recent() {
    command -v node >/dev/null 2>&1 || return 1
    _version="$(node -p 'process.versions.node' 2>/dev/null)" || return 1
    _major="${_version%%.*}"
    _rest="${_version#*.}"
    _minor="${_rest%%.*}"
    case "$_major$_minor" in *[!0-9]* | '') return 1 ;; esac
    [ "$_major" -gt "$NODE_FLOOR_MAJOR" ] || { [ "$_major" -eq "$NODE_FLOOR_MAJOR" ] && [ "$_minor" -ge "$NODE_FLOOR_MINOR" ]; }
}

# fetch NAME [progress]: NAME from the installer release, verified, in CACHE_DIR. A cached copy
# that still matches SHA256SUMS is reused.
fetch() {
    if [ -f "$CACHE_DIR/$1" ] && [ "$(sha256_of "$CACHE_DIR/$1")" = "$(expected_sha256 "$1")" ]; then
        return 0
    fi
    if [ "${2-}" = progress ]; then
        say "downloading $1 from $INSTALLER_URL"
    fi
    if ! download "$INSTALLER_URL/$1" "$CACHE_DIR/$1.part" "${2-}"; then
        rm -f "$CACHE_DIR/$1.part"
        fail "could not download $INSTALLER_URL/$1" "Check your network and proxy settings (HTTPS_PROXY), then run the installer again." "$EXIT_NETWORK"
    fi
    ensure mv -f "$CACHE_DIR/$1.part" "$CACHE_DIR/$1"
    verify "$CACHE_DIR/$1" "$1"
}

telemetry_enabled() {
    is_truthy "${RUNMAT_NO_TELEMETRY-}" && return 1
    is_falsy "${RUNMAT_TELEMETRY-}" && return 1
    does_not_track "${DO_NOT_TRACK-}" && return 1
    [ "$NO_TELEMETRY_FLAG" = 1 ] && return 1
    _settings="$HOME/$STATE_DIR/$TELEMETRY_SETTINGS_FILE"
    if [ -f "$_settings" ] && grep -q '"enabled": *false' "$_settings"; then
        return 1
    fi
    return 0
}

new_uuid() {
    if [ -r /proc/sys/kernel/random/uuid ]; then
        cat /proc/sys/kernel/random/uuid
    elif command -v uuidgen >/dev/null 2>&1; then
        uuidgen | tr '[:upper:]' '[:lower:]'
    else
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n' |
            sed 's/^\(.\{8\}\)\(.\{4\}\).\(.\{3\}\).\(.\{3\}\)\(.\{12\}\)$/\1-\2-4\3-a\4-\5/'
    fi
}

# The same rules as runmat-install: reuse a valid id, else a new UUID, written only now that
# telemetry is on and an event is about to go out. A read-only HOME gets an id for this run.
telemetry_id() {
    _file="$HOME/$STATE_DIR/$TELEMETRY_ID_FILE"
    # Only a regular file, never a link (its target would be sent) or a FIFO (it would block).
    if [ -f "$_file" ] && [ ! -L "$_file" ] && [ "$(wc -c <"$_file")" -le "$TELEMETRY_ID_MAX_BYTES" ] && [ "$(grep -c . "$_file")" -le 1 ]; then
        _id="$(tr -d '\r\n' <"$_file" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')"
        if printf '%s' "$_id" | grep -Eq "$TELEMETRY_ID_PATTERN"; then
            printf '%s' "$_id"
            return 0
        fi
    fi
    _id="$(new_uuid)"
    if mkdir -p "$HOME/$STATE_DIR" 2>/dev/null && (umask 077 && printf '%s\n' "$_id" >"$_file.tmp.$$") 2>/dev/null; then
        mv -f "$_file.tmp.$$" "$_file" 2>/dev/null || rm -f "$_file.tmp.$$"
    fi
    printf '%s' "$_id"
}

# send_event LABEL CID: best effort, 3 s at most, never fails the script.
send_event() {
    _payload="$(telemetry_payload "$1" "$2")"
    if is_truthy "${RUNMAT_TELEMETRY_DEBUG-}"; then
        printf 'telemetry (debug, not sent): %s\n' "$_payload" >&2
        return 0
    fi
    _endpoint="${RUNMAT_TELEMETRY_ENDPOINT:-$DEFAULT_TELEMETRY_ENDPOINT}"
    check_url "$_endpoint" || return 0
    if command -v curl >/dev/null 2>&1; then
        # --data makes it a POST that curl keeps across 307 and 308 (an endpoint that moved),
        # and turns into a GET on 301-303, which the endpoint ignores: no -X POST, which would
        # force POST everywhere.
        case "$_endpoint" in
            https://*) _proto='=https' ;;
            *) _proto='=http,https' ;;
        esac
        curl --silent --output /dev/null --max-time 3 --location --max-redirs 3 --proto-redir "$_proto" \
            -H 'Content-Type: application/json' -A "$USER_AGENT" --data "$_payload" "$_endpoint" 2>/dev/null || true
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O /dev/null -T 3 --header='Content-Type: application/json' -U "$USER_AGENT" \
            --post-data="$_payload" "$_endpoint" 2>/dev/null || true
    fi
}

# Failures before runmat-install starts would otherwise be invisible to telemetry.
report_early_failure() {
    telemetry_enabled || return 0
    printf 'runmat-install: sending anonymous install_start and install_failed events (opt out: RUNMAT_NO_TELEMETRY=1)\n' >&2
    _cid="$(telemetry_id)"
    send_event install_start "$_cid"
    send_event install_failed "$_cid"
}

# SHA256SUMS and VERSION are tiny and always fetched fresh: SHA256SUMS is what every other
# download is checked against, and VERSION names the cache directory.
fetch_release_index() {
    _index="$HOME/$STATE_DIR/$INSTALLER_CACHE_DIR/.index.$$"
    ensure mkdir -p "$_index"
    for _name in SHA256SUMS VERSION; do
        if ! download "$INSTALLER_URL/$_name" "$_index/$_name"; then
            rm -rf "$_index"
            fail "could not download $INSTALLER_URL/$_name" "Check your network and proxy settings (HTTPS_PROXY), then run the installer again." "$EXIT_NETWORK"
        fi
    done
    SUMS="$_index/SHA256SUMS"
    verify "$_index/VERSION" VERSION
    _version="$(sed -n '1p' "$_index/VERSION" | tr -cd 'A-Za-z0-9.+-')"
    CACHE_DIR="$HOME/$STATE_DIR/$INSTALLER_CACHE_DIR/${_version:-unknown}"
    ensure mkdir -p "$CACHE_DIR"
    ensure mv -f "$_index/SHA256SUMS" "$_index/VERSION" "$CACHE_DIR/"
    rm -rf "$_index"
    SUMS="$CACHE_DIR/SHA256SUMS"
}

# gunzip_to GZ FILE
gunzip_to() {
    if ! gzip -dc "$1" >"$2.part"; then
        rm -f "$1" "$2.part"
        fail "could not unpack $1" "The cached download was damaged and has been removed; run the installer again." "$EXIT_INTEGRITY"
    fi
    ensure mv -f "$2.part" "$2"
}

# How this machine can unpack a .tar.xz: "xz" (an xz binary and any tar), "bsdtar" (a libarchive
# tar, as on macOS, which reads xz itself), or "" (then the larger .gz it is).
xz_unpacker() {
    command -v tar >/dev/null 2>&1 || return 0
    if command -v xz >/dev/null 2>&1; then
        printf 'xz'
    elif tar --version 2>/dev/null | grep -q bsdtar; then
        printf 'bsdtar'
    fi
}

# untar_xz TARXZ DIR NAME: NAME from the .tar.xz into DIR, by way of a scratch directory so that
# a damaged archive leaves nothing half-written where the binary goes.
untar_xz() {
    _scratch="$2/.unpack.$$"
    rm -rf "$_scratch"
    ensure mkdir -p "$_scratch"
    if [ "$XZ_UNPACKER" = xz ]; then
        xz -dc "$1" | tar -xf - -C "$_scratch" "$3"
    else
        tar -xf "$1" -C "$_scratch" "$3"
    fi
    if [ ! -f "$_scratch/$3" ]; then
        rm -rf "$_scratch" "$1"
        fail "could not unpack $1" "The cached download was damaged and has been removed; run the installer again." "$EXIT_INTEGRITY"
    fi
    ensure mv -f "$_scratch/$3" "$2/$3"
    rm -rf "$_scratch"
}

main() {
    OS_NAME=unknown ARCH_NAME=unknown RELEASE_PLATFORM=unknown DOWNLOADER=none NO_TELEMETRY_FLAG=0
    for _arg in "$@"; do
        [ "$_arg" = --no-telemetry ] && NO_TELEMETRY_FLAG=1
    done
    if [ -z "${HOME-}" ]; then
        fail "HOME is not set" "Set HOME to your home directory and run the installer again." "$EXIT_FILESYSTEM"
    fi
    need_cmd uname
    detect_platform
    choose_downloader
    choose_sha256_tool
    need_cmd gzip
    INSTALLER_URL="${RUNMAT_INSTALLER_URL:-$DEFAULT_INSTALLER_URL}"
    INSTALLER_URL="${INSTALLER_URL%/}"
    fetch_release_index

    if node_is_recent; then
        # Fast path: a ~250 KB script for the Node.js already here, instead of a ~40 MB binary.
        fetch runmat-install.cjs.gz
        gunzip_to "$CACHE_DIR/runmat-install.cjs.gz" "$CACHE_DIR/runmat-install.cjs"
        exec node "$CACHE_DIR/runmat-install.cjs" --method shell "$@"
    fi
    _binary="runmat-install-$SEA_TARGET"
    XZ_UNPACKER="$(xz_unpacker)"
    if [ -n "$XZ_UNPACKER" ]; then
        # A third smaller than the .gz (28 MB rather than 42 MB for linux-x64).
        _archive="$_binary.tar.xz"
    else
        _archive="$_binary.gz"
    fi
    fetch "$_archive" progress
    # The binary unpacked last time, stamped with its archive's checksum: a warm run starts at
    # once instead of unpacking 126 MB again.
    _stamp="$CACHE_DIR/$_binary.unpacked-from"
    if [ ! -x "$CACHE_DIR/$_binary" ] || [ "$(cat "$_stamp" 2>/dev/null)" != "$(expected_sha256 "$_archive")" ]; then
        rm -f "$_stamp"
        if [ -n "$XZ_UNPACKER" ]; then
            untar_xz "$CACHE_DIR/$_archive" "$CACHE_DIR" "$_binary"
        else
            gunzip_to "$CACHE_DIR/$_archive" "$CACHE_DIR/$_binary"
        fi
        ensure chmod 755 "$CACHE_DIR/$_binary"
        expected_sha256 "$_archive" >"$_stamp"
    fi
    exec "$CACHE_DIR/$_binary" --method shell "$@"
}

main "$@" || exit 1
}
