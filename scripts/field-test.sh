#!/bin/sh
# The release workflow's field test: installs the real RunMat (the latest release on GitHub)
# with the installer just built, on the machine or container this runs on, and writes a short
# field report (installer version, RunMat version, outcome, message) for the job's artifact.
#
#   scripts/field-test.sh EXPECT RELEASE_DIR REPORT_FILE
#
# EXPECT is "success" (the install must succeed and `runmat --version` print the version that
# was installed) or "success-or-diagnosis" (an older distribution may lack RunMat's libraries or
# glibc: then the install must fail with the installer's diagnosis, naming them and the fix).
# Only the installer binary is needed: containers such as debian:12 have no curl, no python and
# no CA store of their own, and the single binary carries its own.
set -u

say() {
    printf 'field-test: %s\n' "$1"
}

err() {
    say "error: $1" >&2
    exit 1
}

need_cmd() {
    command -v "$1" > /dev/null 2>&1 || err "need '$1' (command not found)"
}

# installer_target: the single binary's name for this OS and CPU.
installer_target() {
    case "$(uname -s)-$(uname -m)" in
        Linux-x86_64) echo linux-x64 ;;
        Linux-aarch64) echo linux-arm64 ;;
        Darwin-x86_64) echo darwin-x64 ;;
        Darwin-arm64) echo darwin-arm64 ;;
        *) err "no runmat-install binary for $(uname -s) $(uname -m)" ;;
    esac
}

report() {
    printf 'installer: %s\nrunmat: %s\noutcome: %s\nmessage: %s\n' "$1" "$2" "$3" "$4" > "$REPORT"
    cat "$REPORT"
}

main() {
    [ $# -eq 3 ] || err "usage: field-test.sh EXPECT RELEASE_DIR REPORT_FILE"
    EXPECT=$1
    RELEASE=$2
    REPORT=$3
    need_cmd gunzip
    need_cmd uname
    _installer_version=$(cat "$RELEASE/VERSION")
    _target=$(installer_target)
    _work=$(mktemp -d)
    gunzip -c "$RELEASE/runmat-install-$_target.gz" > "$_work/runmat-install" || err "cannot unpack runmat-install-$_target.gz"
    chmod 755 "$_work/runmat-install"
    HOME=$_work/home
    export HOME
    mkdir -p "$HOME"
    "$_work/runmat-install" --no-telemetry > "$_work/out.txt" 2> "$_work/err.txt"
    _code=$?
    cat "$_work/out.txt" "$_work/err.txt"
    _message=$(grep -E '^(error|  hint): ' "$_work/err.txt" | tr '\n' ' ')
    if [ "$_code" -eq 0 ]; then
        _installed=$(sed -n 's/^Installed RunMat \(v[^ ]*\) to .*/\1/p' "$_work/out.txt")
        _printed=$("$HOME/.local/bin/runmat" --version 2>&1) || err "runmat --version failed: $_printed"
        case "$_printed" in
            *"${_installed#v}"*) ;;
            *) report "$_installer_version" "$_installed" failure "runmat --version printed '$_printed', not ${_installed}"; return 1 ;;
        esac
        report "$_installer_version" "$_installed ($_printed)" success "installed"
        return 0
    fi
    # exit 7 with the loader's diagnosis: the libraries or the glibc named, and the fix.
    if [ "$EXPECT" = success-or-diagnosis ] && [ "$_code" -eq 7 ] &&
        grep -Eq 'needs (glibc|a system library|system libraries)' "$_work/err.txt"; then
        report "$_installer_version" "not installed" diagnosed "$_message"
        return 0
    fi
    report "$_installer_version" "not installed" "failure (exit $_code)" "$_message"
    return 1
}

main "$@" || exit 1
