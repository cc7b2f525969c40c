# shellguard for bash: add `eval "$(tessera guard hook bash)"` to ~/.bashrc (bash >= 4.4).
# Every command line you type is judged before it runs: SAFE/LOW run, RISKY asks (y/N),
# BLOCKED is refused. Without a terminal (scripts, CI, agents) RISKY follows
# TESSERA_GUARD_POLICY (deny|allow, default deny). Knobs: TESSERA_GUARD_MODE (rules by
# default here: fast; auto adds the model), TESSERA_GUARD_BYPASS=1 (run RISKY without
# asking, audited), TESSERA_GUARD_OFF=1 (hook off), TESSERA_GUARD_AUDIT (log path).
__tessera_guard_py=@PYTHON@
__tessera_guard_state=ready
__tessera_guard_reset() { __tessera_guard_state=ready; }
__tessera_guard_debug() {
  [[ -n "${TESSERA_GUARD_OFF:-}" || -n "${COMP_LINE:-}" ]] && return 0
  case "$BASH_COMMAND" in __tessera_guard_*) return 0 ;; esac
  # Interactive: judge the whole typed line once. Scripts: judge each simple command.
  [[ $- == *i* ]] || __tessera_guard_state=ready
  [[ $__tessera_guard_state == blocked ]] && return 1
  [[ $__tessera_guard_state == checked ]] && return 0
  __tessera_guard_state=checked
  local line=""
  if [[ $- == *i* ]]; then
    line=$(HISTTIMEFORMAT='' builtin history 1 2>/dev/null | sed -E 's/^ *[0-9]+\*? *//')
  fi
  [[ -z "$line" ]] && line=$BASH_COMMAND
  if ! TESSERA_GUARD_MODE="${TESSERA_GUARD_MODE:-rules}" "$__tessera_guard_py" -m tessera.shellguard gate \
      --shell bash --cwd "$PWD" -- "$line"; then
    __tessera_guard_state=blocked
    return 1
  fi
  return 0
}
shopt -s extdebug
trap '__tessera_guard_debug' DEBUG
PROMPT_COMMAND="__tessera_guard_reset${PROMPT_COMMAND:+; $PROMPT_COMMAND}"
