# shellguard for zsh: add `eval "$(tessera guard hook zsh)"` to ~/.zshrc.
# The Enter key's accept-line widget asks shellguard first: SAFE/LOW run, RISKY asks (y/N),
# BLOCKED is refused and the line is kept in history for editing. Knobs as for bash:
# TESSERA_GUARD_MODE (rules by default here), TESSERA_GUARD_POLICY, TESSERA_GUARD_BYPASS,
# TESSERA_GUARD_OFF, TESSERA_GUARD_AUDIT.
typeset -g __tessera_guard_py=@PYTHON@
__tessera_guard_accept_line() {
  if [[ -z "${TESSERA_GUARD_OFF:-}" && -n "${BUFFER//[[:space:]]/}" ]]; then
    if ! TESSERA_GUARD_MODE="${TESSERA_GUARD_MODE:-rules}" "$__tessera_guard_py" -m tessera.shellguard gate \
        --shell bash --cwd "$PWD" -- "$BUFFER" </dev/tty; then
      print -s -- "$BUFFER"
      BUFFER=""
      zle .reset-prompt
      return 0
    fi
  fi
  zle .accept-line
}
zle -N accept-line __tessera_guard_accept_line
