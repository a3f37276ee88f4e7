# The RunMat one-liner for Windows:  iwr https://runmat.org/install.ps1 | iex
#
# A thin bootstrapper, the PowerShell twin of install.sh: it downloads the runmat-install
# binary for Windows, verifies it against the release's SHA256SUMS, caches it under
# %USERPROFILE%\.runmat\installer\<version>\, and runs it with every argument given here.
# Arguments reach it when run as a file or a script block:
#   & ([scriptblock]::Create((iwr https://runmat.org/install.ps1 -UseBasicParsing))) --dir C:\tools\runmat
# Environment variables (RUNMAT_VERSION, RUNMAT_INSTALL_DIR, ...) work either way.
#
# It must run on Windows PowerShell 5.1: no ternaries, no ?? or ?., no && or ||, no -Parallel.
# Everything runs inside one script block, so that under `iex` nothing leaks into the user's
# session (variables, functions, $ErrorActionPreference) and `exit` never closes their window.

& {
# The user's session preferences are theirs; this script block sets its own (they are scoped
# to it). Most important: PowerShell 7.3+'s $PSNativeCommandUseErrorActionPreference, set in
# many profiles, would turn the installer's documented exit code into an exception here.
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
Set-StrictMode -Off
# The progress bar makes Invoke-WebRequest many times slower on PowerShell 5.1.
$ProgressPreference = 'SilentlyContinue'

# >>> generated from src/contract.ts by `npm run render:bootstrap`: do not edit >>>
$DefaultInstallerUrl = 'https://github.com/runmat-org/runmat-install/releases/latest/download'
$DefaultTelemetryEndpoint = 'https://runmat.org/api/telemetry'
# What the early-failure events say they come from, as runmat-install's own requests do.
$UserAgent = 'runmat-install/0.1.0'
# Exit codes shared with runmat-install (see its README).
$ExitCodes = @{
    'internal' = 1
    'usage' = 2
    'network' = 3
    'integrity' = 4
    'platform' = 5
    'filesystem' = 6
    'verification' = 7
    'not-installed' = 11
    'interrupted' = 130
}
$StateDir = '.runmat'
$TelemetryIdFile = 'telemetry_id'
$TelemetrySettingsFile = 'telemetry.json'
$InstallerCacheDir = 'installer'
$TelemetryIdPattern = '^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9]{9,11}-[0-9]{1,6})$'
$TelemetryIdMaxBytes = 256
$Truthy = @('1', 'true', 'yes', 'on')
$Falsy = @('0', 'false', 'no', 'off')
$DoNotTrackAllows = @('0', 'false')
$PayloadKeys = @('event_label', 'os', 'arch', 'platform', 'release', 'method', 'cid')
$PayloadMethod = 'powershell'
# PROCESSOR_ARCHITECTURE's spelling: the contract's architecture.
$ArchSpellings = @{
    'x86_64' = 'x86_64'
    'x64' = 'x86_64'
    'amd64' = 'x86_64'
    'arm64' = 'arm64'
    'aarch64' = 'arm64'
}
# Architecture: RunMat's release target and the runmat-install binary that runs there.
$WindowsPlatforms = @{
    'x86_64' = @{ platform = 'windows-x86_64'; sea = 'win-x64' }
    'arm64' = @{ platform = 'windows-aarch64'; sea = 'win-x64' }
}
# <<< end of generated block <<<

# Run as a file, `exit` ends the script; under `iex` or a script block it must not (it would
# close the user's window), so the code is left in $LASTEXITCODE instead.
$RunAsFile = [bool]$PSCommandPath
$Facts = @{ os = 'windows'; arch = 'unknown'; platform = 'unknown' }
$BootstrapArguments = @($args)

function Write-InstallerError([string]$Message, [string]$Hint) {
    [Console]::Error.WriteLine("runmat-install: error: $Message")
    if ($Hint) { [Console]::Error.WriteLine("  hint: $Hint") }
}

function Test-OneOf([string]$Value, [string[]]$Spellings) {
    return ($Spellings -contains "$Value".Trim().ToLowerInvariant())
}

function Test-DoNotTrack([string]$Value) {
    $spelling = "$Value".Trim().ToLowerInvariant()
    return ($spelling -ne '') -and -not ($DoNotTrackAllows -contains $spelling)
}

function Get-StatePath([string]$Name) {
    return (Join-Path (Join-Path $env:USERPROFILE $StateDir) $Name)
}

function Test-TelemetryEnabled {
    if (Test-OneOf $env:RUNMAT_NO_TELEMETRY $Truthy) { return $false }
    if (Test-OneOf $env:RUNMAT_TELEMETRY $Falsy) { return $false }
    if (Test-DoNotTrack $env:DO_NOT_TRACK) { return $false }
    if ($BootstrapArguments -contains '--no-telemetry') { return $false }
    if (-not $env:USERPROFILE) { return $true }
    $settings = Get-StatePath $TelemetrySettingsFile
    if ((Test-Path -LiteralPath $settings -PathType Leaf) -and ((Get-Content -Raw -LiteralPath $settings) -match '"enabled":\s*false')) { return $false }
    return $true
}

# The same rules as runmat-install: reuse a valid id, else a new GUID, written only now that
# telemetry is on and an event is about to go out. A read-only profile gets an id for this run.
function Get-TelemetryId {
    if (-not $env:USERPROFILE) { return [guid]::NewGuid().ToString() }
    $file = Get-StatePath $TelemetryIdFile
    $item = Get-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue
    # Only a regular file of ours: never a link, whose target would be sent as the id.
    if ($item -and -not $item.PSIsContainer -and -not ($item.Attributes -band [IO.FileAttributes]::ReparsePoint) -and $item.Length -le $TelemetryIdMaxBytes) {
        $existing = "$(Get-Content -Raw -LiteralPath $file)".Trim()
        if ($existing -match $TelemetryIdPattern) { return $existing }
    }
    $id = [guid]::NewGuid().ToString()
    $temporary = "$file.tmp.$PID"
    try {
        New-Item -ItemType Directory -Force -Path (Split-Path $file) | Out-Null
        [IO.File]::WriteAllText($temporary, "$id`n")
        Move-Item -Force -LiteralPath $temporary $file
    } catch {
        Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath $temporary
    }
    return $id
}

# Best effort, 3 s at most, never fails the script.
function Send-InstallEvent([string]$Label, [string]$Cid) {
    $values = @{
        event_label = $Label
        os = $Facts.os
        arch = $Facts.arch
        platform = $Facts.platform
        release = 'unknown'
        method = $PayloadMethod
        cid = $Cid
    }
    $event = [ordered]@{}
    foreach ($key in $PayloadKeys) { $event[$key] = $values[$key] }
    $payload = $event | ConvertTo-Json -Compress
    if (Test-OneOf $env:RUNMAT_TELEMETRY_DEBUG $Truthy) {
        [Console]::Error.WriteLine("telemetry (debug, not sent): $payload")
        return
    }
    $endpoint = $env:RUNMAT_TELEMETRY_ENDPOINT
    if (-not $endpoint) { $endpoint = $DefaultTelemetryEndpoint }
    if (-not (Test-AllowedUrl $endpoint)) { return }
    try {
        Invoke-RestMethod -Method Post -Uri $endpoint -ContentType 'application/json' -Body $payload `
            -TimeoutSec 3 -UserAgent $UserAgent -UseBasicParsing | Out-Null
    } catch {
        # telemetry never fails an install
    }
}

# Failures before runmat-install starts would otherwise be invisible to telemetry.
function Send-EarlyFailure {
    if (-not (Test-TelemetryEnabled)) { return }
    [Console]::Error.WriteLine('runmat-install: sending anonymous install_start and install_failed events (opt out: RUNMAT_NO_TELEMETRY=1)')
    $cid = Get-TelemetryId
    Send-InstallEvent 'install_start' $cid
    Send-InstallEvent 'install_failed' $cid
}

# Stops the bootstrap with a documented exit code. The code travels in the exception's Data,
# never in its text, and the one place that reports it is the catch at the bottom.
function Stop-Bootstrap([string]$Message, [string]$Hint, [string]$Kind) {
    $failure = New-Object System.Exception $Message
    $failure.Data['RunmatHint'] = $Hint
    $failure.Data['RunmatExitCode'] = $ExitCodes[$Kind]
    throw $failure
}

function Get-SeaTarget {
    $cpu = $env:PROCESSOR_ARCHITEW6432
    if (-not $cpu) { $cpu = $env:PROCESSOR_ARCHITECTURE }
    $arch = $null
    if ($cpu) { $arch = $ArchSpellings["$cpu"] }
    if (-not $arch -or -not $WindowsPlatforms.ContainsKey($arch)) {
        $Facts.arch = "$cpu" -replace '[^A-Za-z0-9_.-]', ''
        Stop-Bootstrap "RunMat has no prebuilt binary for $cpu Windows" 'RunMat needs 64-bit Windows (x64 or ARM64).' 'platform'
    }
    $row = $WindowsPlatforms[$arch]
    $Facts.arch = $arch
    $Facts.platform = $row.platform
    if ($arch -eq 'arm64') {
        # Windows on ARM runs x64 programs under emulation; there is no native installer build.
        [Console]::Error.WriteLine('runmat-install: ARM64 Windows detected; running the x64 installer under emulation.')
    }
    return $row.sea
}

function Test-AllowedUrl([string]$Url) {
    return ($Url -match '^https://') -or ($Url -match '^http://(127\.0\.0\.1|localhost)[:/]')
}

function Get-Download([string]$Url, [string]$Path) {
    if (-not (Test-AllowedUrl $Url)) {
        Stop-Bootstrap "refusing to download over plain HTTP: $Url" 'Use an https:// URL in RUNMAT_INSTALLER_URL.' 'network'
    }
    try {
        Invoke-WebRequest -Uri $Url -OutFile "$Path.part" -UseBasicParsing -TimeoutSec 60
    } catch {
        Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath "$Path.part"
        # Writing the file failed, not the network: reported as a filesystem error.
        if ($_.Exception -is [System.IO.IOException] -or $_.Exception -is [System.UnauthorizedAccessException]) { throw }
        Stop-Bootstrap "could not download $Url ($($_.Exception.Message))" 'Check your network and proxy settings, then run the installer again.' 'network'
    }
    # A captive portal's login or a proxy's block page answers with 200 and HTML; no file the
    # installer downloads starts with "<", so say what answered instead of a missing checksum.
    if (Test-WebPage "$Path.part") {
        Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath "$Path.part"
        $hostName = ([Uri]$Url).Authority
        Stop-Bootstrap "$hostName answered with a web page instead of $(Split-Path -Leaf $Path); a proxy, firewall or captive portal is answering for it" "Open https://$hostName/ in a browser: log in to the network, or ask your IT department to allow $hostName; then run the installer again." 'network'
    }
    Move-Item -Force -LiteralPath "$Path.part" $Path
}

function Test-WebPage([string]$Path) {
    $stream = [IO.File]::OpenRead($Path)
    try {
        $buffer = New-Object byte[] 64
        $count = $stream.Read($buffer, 0, 64)
    } finally {
        $stream.Dispose()
    }
    $start = [Text.Encoding]::ASCII.GetString($buffer, 0, $count).TrimStart()
    return $start -match '^<(!doctype|html|head|body|\?xml)'
}

function Get-ExpectedHash([string]$Sums, [string]$Name) {
    foreach ($line in Get-Content -LiteralPath $Sums) {
        $parts = $line -split '\s+', 2
        if ($parts.Count -eq 2 -and ($parts[1] -eq $Name -or $parts[1] -eq "*$Name")) { return $parts[0].ToLowerInvariant() }
    }
    return ''
}

function Get-ActualHash([string]$Path) {
    return (Get-FileHash -Algorithm SHA256 -LiteralPath $Path).Hash.ToLowerInvariant()
}

function Confirm-Checksum([string]$Path, [string]$Name, [string]$Sums) {
    $expected = Get-ExpectedHash $Sums $Name
    if (-not $expected) {
        Stop-Bootstrap "SHA256SUMS lists no checksum for $Name" 'The installer release looks incomplete; try again later.' 'integrity'
    }
    $actual = Get-ActualHash $Path
    if ($actual -ne $expected) {
        Remove-Item -Force -LiteralPath $Path
        Stop-Bootstrap "checksum mismatch for $Name (expected $expected, got $actual)" 'The download was corrupted or tampered with; nothing was run. Try again, and report it if it repeats.' 'integrity'
    }
}

function Expand-GzipFile([string]$Source, [string]$Destination) {
    try {
        $compressed = [IO.File]::OpenRead($Source)
        try {
            $output = [IO.File]::Create("$Destination.part")
            try {
                $gzip = New-Object IO.Compression.GZipStream($compressed, [IO.Compression.CompressionMode]::Decompress)
                $gzip.CopyTo($output)
                $gzip.Dispose()
            } finally {
                $output.Dispose()
            }
        } finally {
            $compressed.Dispose()
        }
        Move-Item -Force -LiteralPath "$Destination.part" $Destination
    } catch {
        # A damaged cache entry would fail every later run the same way: remove it.
        Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath "$Destination.part", $Source
        Stop-Bootstrap "could not unpack $Source ($($_.Exception.Message))" 'The cached download was damaged and has been removed; run the installer again.' 'integrity'
    }
}

# Downloads, verifies and caches the installer binary; returns its path.
function Get-Installer {
    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
    if (-not $env:USERPROFILE) {
        Stop-Bootstrap 'USERPROFILE is not set' 'Run the installer from a normal user session.' 'filesystem'
    }
    $target = Get-SeaTarget
    $installerUrl = $env:RUNMAT_INSTALLER_URL
    if (-not $installerUrl) { $installerUrl = $DefaultInstallerUrl }
    $installerUrl = $installerUrl.TrimEnd('/')

    # SHA256SUMS and VERSION are tiny and always fetched fresh: SHA256SUMS is what every other
    # download is checked against, and VERSION names the cache directory.
    $root = Get-StatePath $InstallerCacheDir
    $index = Join-Path $root ".index.$PID"
    New-Item -ItemType Directory -Force -Path $index | Out-Null
    try {
        Get-Download "$installerUrl/SHA256SUMS" (Join-Path $index 'SHA256SUMS')
        Get-Download "$installerUrl/VERSION" (Join-Path $index 'VERSION')
        Confirm-Checksum (Join-Path $index 'VERSION') 'VERSION' (Join-Path $index 'SHA256SUMS')
        $version = ((Get-Content -LiteralPath (Join-Path $index 'VERSION') | Select-Object -First 1) -replace '[^A-Za-z0-9.+-]', '')
        if (-not $version) { $version = 'unknown' }
        $cache = Join-Path $root $version
        New-Item -ItemType Directory -Force -Path $cache | Out-Null
        Move-Item -Force (Join-Path $index '*') $cache
    } finally {
        Remove-Item -Recurse -Force -ErrorAction SilentlyContinue -LiteralPath $index
    }
    $sums = Join-Path $cache 'SHA256SUMS'

    $name = "runmat-install-$target.exe"
    $archive = Join-Path $cache "$name.gz"
    $cached = (Test-Path -LiteralPath $archive) -and ((Get-ActualHash $archive) -eq (Get-ExpectedHash $sums "$name.gz"))
    if (-not $cached) {
        # The progress bar stays off (it makes Invoke-WebRequest many times slower on 5.1): a
        # line says what is coming, and from where.
        [Console]::Error.WriteLine("runmat-install: downloading $name.gz from $installerUrl")
        Get-Download "$installerUrl/$name.gz" $archive
        Confirm-Checksum $archive "$name.gz" $sums
    }
    $exe = Join-Path $cache $name
    # The binary unpacked last time, stamped with its archive's checksum: a warm run starts at once.
    $stamp = "$exe.unpacked-from"
    $expected = Get-ExpectedHash $sums "$name.gz"
    $unpacked = (Test-Path -LiteralPath $exe) -and (Test-Path -LiteralPath $stamp) -and ((Get-Content -LiteralPath $stamp | Select-Object -First 1) -eq $expected)
    if (-not $unpacked) {
        Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath $stamp
        Expand-GzipFile $archive $exe
        Set-Content -LiteralPath $stamp -Value $expected
    }
    if ([Environment]::OSVersion.Platform -eq [PlatformID]::Unix) {
        # PowerShell on Linux (this project's tests, which run the binary through Wine) starts
        # only files with the execute bit; Windows has none to set.
        & chmod 755 $exe
    }
    return $exe
}

# Reports a failure of this script (not of the installer, which reports its own) and returns
# the exit code: one error line, one hint line, and the early-failure events.
function Complete-Failure($Failure) {
    if ($Failure.Data.Contains('RunmatExitCode')) {
        Write-InstallerError $Failure.Message $Failure.Data['RunmatHint']
        $exitCode = [int]$Failure.Data['RunmatExitCode']
    } elseif ($Failure -is [System.IO.IOException] -or $Failure -is [System.UnauthorizedAccessException]) {
        $message = "$($Failure.Message)" -replace '\s+', ' '
        Write-InstallerError "cannot write the installer cache: $message" "Check that $env:USERPROFILE is your profile directory, that you can write to it, and that the disk is not full."
        $exitCode = $ExitCodes.filesystem
    } else {
        # Not one of ours (a .NET or cmdlet error): still one error line, a hint and telemetry.
        $message = "$($Failure.Message)" -replace '\s+', ' '
        Write-InstallerError "unexpected error: $message" 'Run the installer again; if it repeats, report it at https://github.com/runmat-org/runmat/issues.'
        $exitCode = $ExitCodes.internal
    }
    Send-EarlyFailure
    return $exitCode
}

$code = 0
$installer = $null
try {
    $installer = Get-Installer
} catch {
    $code = Complete-Failure $_.Exception
}
if ($installer) {
    try {
        # Called here, not inside a function whose result is assigned, so that the installer's
        # output goes straight to the console instead of being captured, and its exit code
        # passes through unchanged.
        & $installer --method $PayloadMethod @BootstrapArguments
        $code = $LASTEXITCODE
    } catch {
        # The installer ran and reported its own failure (and sent its own events): only its
        # exit code is wanted, should anything still turn that code into an exception.
        if ($_.Exception.GetType().Name -eq 'NativeCommandExitException') {
            $code = $LASTEXITCODE
        } else {
            $code = Complete-Failure $_.Exception
        }
    }
}
if ($RunAsFile) { exit $code }
$global:LASTEXITCODE = $code
} @args
