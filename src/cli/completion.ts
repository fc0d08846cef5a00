// `shoal completion bash|zsh`: a completion script written from the command tree itself, so that it
// never lists a command or flag that does not exist. Commander has no generator of its own; this is
// the small one it lacks: the first word completes to a command, later words to that command's flags
// and argument choices, and anything else falls back to file names (policy files, data dirs).
// zsh runs the bash function through bashcompinit.

import type { Command } from 'commander'

export function completionScript (program: Command, shell: 'bash' | 'zsh'): string {
  const commands = program.commands.map((command) => command.name())
  const cases = program.commands.map((command) => {
    const flags = command.options.flatMap((option) => [option.short, option.long]).filter((flag): flag is string => flag !== undefined)
    const choices = command.registeredArguments.flatMap((argument) => argument.argChoices ?? [])
    const words = [...flags, ...choices, '--help'].join(' ')
    return `    ${command.name()}) words="${words}" ;;`
  })
  const bash = `_shoal_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands.join(' ')} --help --version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _shoal_complete shoal
`
  return shell === 'bash' ? bash : `autoload -U +X bashcompinit && bashcompinit\n${bash}`
}
