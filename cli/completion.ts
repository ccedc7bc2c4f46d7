/** Shell completion scripts, made from the program's own commands and options (so they never drift from it). */
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

const longFlags = (c: Command) => c.options.map((o) => o.long).filter((f): f is string => Boolean(f));

export function completionScript(shell: (typeof SHELLS)[number], program: Command): string {
  const commands = program.commands.map((c) => c.name());
  const global = longFlags(program);
  // A command with subcommands (`catalog`, `drift`) completes their names and their flags (`drift check --wait`).
  const perCommand = Object.fromEntries(
    program.commands.map((c) => [c.name(), [...new Set([...longFlags(c), ...c.commands.flatMap((s) => [s.name(), ...longFlags(s)])])]]),
  );
  switch (shell) {
    case 'bash': {
      const cases = Object.entries(perCommand)
        .map(([name, words]) => `    ${name}) words="${[...words, ...global].join(' ')}" ;;`)
        .join('\n');
      return `# stackjobs completion for bash: source <(stackjobs completion bash)
_stackjobs() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" sub="" words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) sub="\${COMP_WORDS[i]}"; break ;; esac
  done
  case "$sub" in
${cases}
    *) words="${[...commands, ...global].join(' ')}" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _stackjobs stackjobs
`;
    }
    case 'zsh':
      return `#compdef stackjobs
# stackjobs completion for zsh: source <(stackjobs completion zsh)
_stackjobs() {
  local -a commands
  commands=(${program.commands.map((c) => `'${c.name()}:${c.description().replace(/'/g, '').replace(/:/g, ' ')}'`).join(' ')})
  if (( CURRENT == 2 )); then
    _describe 'command' commands
  else
    case "\${words[2]}" in
${Object.entries(perCommand)
  .map(([name, words]) => `      ${name}) compadd -- ${[...words, ...global].join(' ')} ;;`)
  .join('\n')}
    esac
  fi
}
compdef _stackjobs stackjobs
`;
    case 'fish':
      return [
        '# stackjobs completion for fish: stackjobs completion fish | source',
        'complete -c stackjobs -f',
        ...program.commands.map((c) => `complete -c stackjobs -n '__fish_use_subcommand' -a ${c.name()} -d '${c.description().replace(/'/g, '')}'`),
        ...Object.entries(perCommand).flatMap(([name, words]) => words.map((w) => `complete -c stackjobs -n '__fish_seen_subcommand_from ${name}' -a '${w}'`)),
        ...global.map((f) => `complete -c stackjobs -l ${f.replace(/^--/, '')}`),
        '',
      ].join('\n');
  }
}
