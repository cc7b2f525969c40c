# shellguard for bash: add `eval "$(tessera guard hook bash)"` to ~/.bashrc (bash >= 4.4).
# Every command line you type is judged before it runs: SAFE/LOW run, RISKY asks (y/N),
# BLOCKED is refused. Without a terminal (scripts, CI, agents) RISKY follows
# TESSERA_GUARD_POLICY (deny|allow, default deny). Knobs: TESSERA_GUARD_MODE (rules by
# default here: fast; auto adds the model), TESSERA_GUARD_BYPASS=1 (run RISKY without
# asking, audited), TESSERA_GUARD_OFF=1 (hook off), TESSERA_GUARD_AUDIT (log path).
# The hook guards against mistakes, not against someone who controls the shell: `trap - DEBUG`
# removes it. If the guard itself cannot run (no Python), it warns and lets commands run.
__tessera_guard_py=@PYTHON@
__tessera_guard_state=ready
__tessera_guard_last=""
__tessera_guard_reset() {
  __tessera_guard_state=ready
  __tessera_guard_last=$(HISTTIMEFORMAT='' builtin history 1 2>/dev/null)
}
__tessera_guard_judge() {
  TESSERA_GUARD_MODE="${TESSERA_GUARD_MODE:-rules}" "$__tessera_guard_py" -m tessera.shellguard gate \
    --shell bash --cwd "$PWD" -- "$1"
  local rc=$?
  if (( rc == 1 )); then return 1; fi
  if (( rc != 0 )); then
    printf 'shellguard: the guard could not run (status %s); not checked: %s\n' "$rc" "$1" >&2
  fi
  return 0
}
__tessera_guard_debug() {
  [[ -n "${TESSERA_GUARD_OFF:-}" || -n "${COMP_LINE:-}" ]] && return 0
  case "$BASH_COMMAND" in
    __tessera_guard_debug|__tessera_guard_reset|"__tessera_guard_reset; "*) return 0 ;;
  esac
  [[ $__tessera_guard_state == blocked ]] && return 1
  local hist=""
  if [[ $- == *i* ]]; then
    hist=$(HISTTIMEFORMAT='' builtin history 1 2>/dev/null)
  fi
  if [[ -n "$hist" && "$hist" != "$__tessera_guard_last" ]]; then
    # a new history entry: judge the whole typed line once, before its first command
    [[ $__tessera_guard_state == checked ]] && return 0
    __tessera_guard_state=checked
    __tessera_guard_judge "$(sed -E 's/^ *[0-9]+\*? *//' <<< "$hist")" || { __tessera_guard_state=blocked; return 1; }
    return 0
  fi
  # no new history entry (scripts, a leading space with ignorespace, `set +o history`):
  # judge every simple command as it comes, whatever the hook's state says
  __tessera_guard_judge "$BASH_COMMAND" || return 1
  return 0
}
shopt -s extdebug
trap '__tessera_guard_debug' DEBUG
PROMPT_COMMAND="__tessera_guard_reset${PROMPT_COMMAND:+; $PROMPT_COMMAND}"
