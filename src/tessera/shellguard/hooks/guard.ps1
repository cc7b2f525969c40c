# shellguard for PowerShell 7 (PSReadLine): add this line to $PROFILE:
#   tessera guard hook powershell | Out-String | Invoke-Expression
# Enter asks shellguard first: SAFE/LOW run, RISKY asks (y/N), BLOCKED is refused and the
# line stays in history. Knobs: $env:TESSERA_GUARD_MODE (rules by default here),
# TESSERA_GUARD_POLICY (deny|allow without a terminal), TESSERA_GUARD_BYPASS,
# TESSERA_GUARD_OFF, TESSERA_GUARD_AUDIT.
$global:TesseraGuardPython = '@PYTHON@'
Set-PSReadLineKeyHandler -Key Enter -BriefDescription 'shellguard' -Description 'Judge the line with shellguard, then accept it' -ScriptBlock {
    $line = $null
    $cursor = $null
    [Microsoft.PowerShell.PSConsoleReadLine]::GetBufferState([ref]$line, [ref]$cursor)
    if (-not $env:TESSERA_GUARD_OFF -and $line.Trim()) {
        if (-not $env:TESSERA_GUARD_MODE) { $env:TESSERA_GUARD_MODE = 'rules' }
        & $global:TesseraGuardPython -m tessera.shellguard gate --shell powershell --cwd $PWD.Path -- $line
        if ($LASTEXITCODE -ne 0) {
            [Microsoft.PowerShell.PSConsoleReadLine]::AddToHistory($line)
            [Microsoft.PowerShell.PSConsoleReadLine]::RevertLine()
            return
        }
    }
    [Microsoft.PowerShell.PSConsoleReadLine]::AcceptLine()
}
