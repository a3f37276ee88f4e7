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

$ErrorActionPreference = 'Stop'
# The progress bar makes Invoke-WebRequest many times slower on PowerShell 5.1.
$ProgressPreference = 'SilentlyContinue'

$DefaultInstallerUrl = 'https://github.com/runmat-org/runmat-install/releases/latest/download'
$DefaultTelemetryEndpoint = 'https://runmat.org/api/telemetry'
$ExitNetwork = 3
$ExitIntegrity = 4
$ExitPlatform = 5
$ExitFilesystem = 6
# Under `iwr | iex` there is no script file, and `exit` would close the user's window.
$RunAsFile = [bool]$PSCommandPath
$Facts = @{ os = 'windows'; arch = 'unknown'; platform = 'unknown' }

function Write-InstallerError([string]$Message, [string]$Hint) {
    [Console]::Error.WriteLine("runmat-install: error: $Message")
    if ($Hint) { [Console]::Error.WriteLine("  hint: $Hint") }
}

function Test-Truthy([string]$Value, [string[]]$Accepted) {
    return ($Accepted -contains "$Value".Trim().ToLowerInvariant())
}

function Test-TelemetryEnabled([string[]]$Arguments) {
    if (Test-Truthy $env:RUNMAT_NO_TELEMETRY @('1', 'true', 'yes', 'on')) { return $false }
    if (Test-Truthy $env:RUNMAT_TELEMETRY @('0', 'false', 'no', 'off')) { return $false }
    if (Test-Truthy $env:DO_NOT_TRACK @('1', 'true')) { return $false }
    if ($Arguments -contains '--no-telemetry') { return $false }
    $settings = Join-Path $env:USERPROFILE '.runmat\telemetry.json'
    if ((Test-Path $settings) -and ((Get-Content -Raw $settings) -match '"enabled":\s*false')) { return $false }
    return $true
}

# The same rules as runmat-install: reuse a valid id, else a new GUID, written only now that
# telemetry is on and an event is about to go out. A read-only profile gets an id for this run.
function Get-TelemetryId {
    $file = Join-Path $env:USERPROFILE '.runmat\telemetry_id'
    if ((Test-Path $file) -and ((Get-Item $file).Length -le 256)) {
        $existing = "$(Get-Content -Raw $file)".Trim()
        if ($existing -match '^[A-Za-z0-9-]{8,64}$') { return $existing }
    }
    $id = [guid]::NewGuid().ToString()
    try {
        New-Item -ItemType Directory -Force -Path (Split-Path $file) | Out-Null
        $temporary = "$file.tmp.$PID"
        [IO.File]::WriteAllText($temporary, "$id`n")
        Move-Item -Force $temporary $file
    } catch {
        Remove-Item -Force -ErrorAction SilentlyContinue "$file.tmp.$PID"
    }
    return $id
}

# Best effort, 3 s at most, never fails the script.
function Send-InstallEvent([string]$Label, [string]$Cid) {
    $payload = [ordered]@{
        event_label = $Label
        os = $Facts.os
        arch = $Facts.arch
        platform = $Facts.platform
        release = 'unknown'
        method = 'powershell'
        cid = $Cid
    } | ConvertTo-Json -Compress
    if (Test-Truthy $env:RUNMAT_TELEMETRY_DEBUG @('1', 'true', 'yes', 'on')) {
        [Console]::Error.WriteLine("telemetry (debug, not sent): $payload")
        return
    }
    $endpoint = $env:RUNMAT_TELEMETRY_ENDPOINT
    if (-not $endpoint) { $endpoint = $DefaultTelemetryEndpoint }
    try {
        Invoke-RestMethod -Method Post -Uri $endpoint -ContentType 'application/json' -Body $payload `
            -TimeoutSec 3 -UserAgent 'runmat-install/install.ps1' -UseBasicParsing | Out-Null
    } catch {
        # telemetry never fails an install
    }
}

# Failures before runmat-install starts would otherwise be invisible to telemetry.
function Stop-Early([string]$Message, [string]$Hint, [int]$Code, [string[]]$Arguments) {
    Write-InstallerError $Message $Hint
    if (Test-TelemetryEnabled $Arguments) {
        $cid = Get-TelemetryId
        Send-InstallEvent 'install_start' $cid
        Send-InstallEvent 'install_failed' $cid
    }
    throw [System.OperationCanceledException]::new("exit:$Code")
}

function Get-SeaTarget([string[]]$Arguments) {
    $cpu = $env:PROCESSOR_ARCHITEW6432
    if (-not $cpu) { $cpu = $env:PROCESSOR_ARCHITECTURE }
    switch ($cpu) {
        'AMD64' {
            $Facts.arch = 'x86_64'
            $Facts.platform = 'windows-x86_64'
        }
        'ARM64' {
            # Windows on ARM runs x64 programs under emulation; there is no native installer build.
            $Facts.arch = 'arm64'
            $Facts.platform = 'windows-aarch64'
            Write-Host 'runmat-install: ARM64 Windows detected; running the x64 installer under emulation.'
        }
        default {
            $Facts.arch = "$cpu"
            Stop-Early "RunMat has no prebuilt binary for $cpu Windows" 'RunMat needs 64-bit Windows (x64 or ARM64).' $ExitPlatform $Arguments
        }
    }
    return 'win-x64'
}

function Test-AllowedUrl([string]$Url) {
    return ($Url -match '^https://') -or ($Url -match '^http://(127\.0\.0\.1|localhost)[:/]')
}

function Get-Download([string]$Url, [string]$Path, [string[]]$Arguments) {
    if (-not (Test-AllowedUrl $Url)) {
        Stop-Early "refusing to download over plain HTTP: $Url" 'Use an https:// URL in RUNMAT_INSTALLER_URL.' $ExitNetwork $Arguments
    }
    try {
        Invoke-WebRequest -Uri $Url -OutFile "$Path.part" -UseBasicParsing -TimeoutSec 60
        Move-Item -Force "$Path.part" $Path
    } catch {
        Remove-Item -Force -ErrorAction SilentlyContinue "$Path.part"
        Stop-Early "could not download $Url ($($_.Exception.Message))" 'Check your network and proxy settings, then run the installer again.' $ExitNetwork $Arguments
    }
}

function Get-ExpectedHash([string]$Sums, [string]$Name) {
    foreach ($line in Get-Content $Sums) {
        $parts = $line -split '\s+', 2
        if ($parts.Count -eq 2 -and ($parts[1] -eq $Name -or $parts[1] -eq "*$Name")) { return $parts[0].ToLowerInvariant() }
    }
    return ''
}

function Get-ActualHash([string]$Path) {
    return (Get-FileHash -Algorithm SHA256 -Path $Path).Hash.ToLowerInvariant()
}

function Confirm-Checksum([string]$Path, [string]$Name, [string]$Sums, [string[]]$Arguments) {
    $expected = Get-ExpectedHash $Sums $Name
    if (-not $expected) {
        Stop-Early "SHA256SUMS lists no checksum for $Name" 'The installer release looks incomplete; try again later.' $ExitIntegrity $Arguments
    }
    $actual = Get-ActualHash $Path
    if ($actual -ne $expected) {
        Remove-Item -Force $Path
        Stop-Early "checksum mismatch for $Name (expected $expected, got $actual)" 'The download was corrupted or tampered with; nothing was run. Try again, and report it if it repeats.' $ExitIntegrity $Arguments
    }
}

function Expand-GzipFile([string]$Source, [string]$Destination) {
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
    Move-Item -Force "$Destination.part" $Destination
}

function Invoke-Bootstrap([string[]]$Arguments) {
    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
    if (-not $env:USERPROFILE) {
        Stop-Early 'USERPROFILE is not set' 'Run the installer from a normal user session.' $ExitFilesystem $Arguments
    }
    $target = Get-SeaTarget $Arguments
    $installerUrl = $env:RUNMAT_INSTALLER_URL
    if (-not $installerUrl) { $installerUrl = $DefaultInstallerUrl }
    $installerUrl = $installerUrl.TrimEnd('/')

    # SHA256SUMS and VERSION are tiny and always fetched fresh.
    $root = Join-Path $env:USERPROFILE '.runmat\installer'
    $index = Join-Path $root ".index.$PID"
    New-Item -ItemType Directory -Force -Path $index | Out-Null
    Get-Download "$installerUrl/SHA256SUMS" (Join-Path $index 'SHA256SUMS') $Arguments
    Get-Download "$installerUrl/VERSION" (Join-Path $index 'VERSION') $Arguments
    Confirm-Checksum (Join-Path $index 'VERSION') 'VERSION' (Join-Path $index 'SHA256SUMS') $Arguments
    $version = ((Get-Content (Join-Path $index 'VERSION') | Select-Object -First 1) -replace '[^A-Za-z0-9.+-]', '')
    $cache = Join-Path $root $version
    New-Item -ItemType Directory -Force -Path $cache | Out-Null
    Move-Item -Force (Join-Path $index '*') $cache
    Remove-Item -Recurse -Force $index
    $sums = Join-Path $cache 'SHA256SUMS'

    $name = "runmat-install-$target.exe"
    $archive = Join-Path $cache "$name.gz"
    $cached = (Test-Path $archive) -and ((Get-ActualHash $archive) -eq (Get-ExpectedHash $sums "$name.gz"))
    if (-not $cached) {
        Get-Download "$installerUrl/$name.gz" $archive $Arguments
        Confirm-Checksum $archive "$name.gz" $sums $Arguments
    }
    $exe = Join-Path $cache $name
    Expand-GzipFile $archive $exe

    & $exe --method powershell @Arguments
    return $LASTEXITCODE
}

$code = 0
try {
    $code = Invoke-Bootstrap $args
} catch [System.OperationCanceledException] {
    $code = [int]($_.Exception.Message -replace '^exit:', '')
}
if ($RunAsFile) { exit $code }
$global:LASTEXITCODE = $code
