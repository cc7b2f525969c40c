# shellguard for zsh: add `eval "$(tessera guard hook zsh)"` to ~/.zshrc.
# The Enter widgets (accept-line, accept-and-hold, accept-line-and-down-history) ask
# shellguard first: SAFE/LOW run, RISKY asks (y/N), BLOCKED is refused and the line is kept
# in history for editing. Knobs as for bash: TESSERA_GUARD_MODE (rules by default here),
# TESSERA_GUARD_POLICY, TESSERA_GUARD_BYPASS, TESSERA_GUARD_OFF, TESSERA_GUARD_AUDIT.
# If the guard itself cannot run (no Python), it warns and lets the line run.
typeset -g __tessera_guard_py=@PYTHON@
__tessera_guard_ok() {
  [[ -n "${TESSERA_GUARD_OFF:-}" || -z "${BUFFER//[[:space:]]/}" ]] && return 0
  TESSERA_GUARD_MODE="${TESSERA_GUARD_MODE:-rules}" "$__tessera_guard_py" -m tessera.shellguard gate \
    --shell bash --cwd "$PWD" -- "$BUFFER" </dev/tty
  local rc=$?
  (( rc == 1 )) && return 1
  (( rc != 0 )) && print -u2 "shellguard: the guard could not run (status $rc); not checked"
  return 0
}
__tessera_guard_widget() {
  if ! __tessera_guard_ok; then
    print -s -- "$BUFFER"
    BUFFER=""
    zle .reset-prompt
    return 0
  fi
  zle ".$WIDGET"
}
zle -N accept-line __tessera_guard_widget
zle -N accept-and-hold __tessera_guard_widget
zle -N accept-line-and-down-history __tessera_guard_widget
