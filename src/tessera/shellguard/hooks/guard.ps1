# shellguard for PowerShell 7 (PSReadLine): add this line to $PROFILE:
#   tessera guard hook powershell | Out-String | Invoke-Expression
# Enter asks shellguard first: SAFE/LOW run, RISKY asks (y/N), BLOCKED is refused and the
# line stays in history. Knobs: $env:TESSERA_GUARD_MODE (rules by default here),
# TESSERA_GUARD_POLICY (deny|allow without a terminal), TESSERA_GUARD_BYPASS,
# TESSERA_GUARD_OFF, TESSERA_GUARD_AUDIT. The line reaches the guard through an environment
# variable (no argument quoting involved). If the guard cannot run, it warns and accepts.
$global:TesseraGuardPython = '@PYTHON@'
Set-PSReadLineKeyHandler -Key Enter -BriefDescription 'shellguard' -Description 'Judge the line with shellguard, then accept it' -ScriptBlock {
    $line = $null
    $cursor = $null
    [Microsoft.PowerShell.PSConsoleReadLine]::GetBufferState([ref]$line, [ref]$cursor)
    if (-not $env:TESSERA_GUARD_OFF -and $line.Trim()) {
        if (-not $env:TESSERA_GUARD_MODE) { $env:TESSERA_GUARD_MODE = 'rules' }
        $env:TESSERA_GUARD_LINE = $line
        $status = -1
        try {
            & $global:TesseraGuardPython -m tessera.shellguard gate --shell powershell --cwd $PWD.Path --from-env
            $status = $LASTEXITCODE
        } catch {
            $status = -1
        } finally {
            Remove-Item Env:TESSERA_GUARD_LINE -ErrorAction SilentlyContinue
        }
        if ($status -eq 1) {
            [Microsoft.PowerShell.PSConsoleReadLine]::AddToHistory($line)
            [Microsoft.PowerShell.PSConsoleReadLine]::RevertLine()
            return
        }
        if ($status -ne 0) {
            Write-Warning "shellguard: the guard could not run (status $status); not checked"
        }
    }
    [Microsoft.PowerShell.PSConsoleReadLine]::AcceptLine()
}
