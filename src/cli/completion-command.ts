import type { Command } from 'commander';
import { CliError } from './cli-error.ts';

/** Every command path (`coffer secrets versions`) with its subcommands and long options. */
function commandTable(command: Command, path: string, globalOptions: string[]): Array<[string, string]> {
  const options = [
    ...command.options.map((option) => option.long).filter((long): long is string => Boolean(long)),
    ...globalOptions,
    '--help',
  ];
  const subcommands = command.commands.map((sub) => sub.name());
  const rows: Array<[string, string]> = [[path, [...subcommands, ...new Set(options)].join(' ')]];
  for (const sub of command.commands) rows.push(...commandTable(sub, `${path} ${sub.name()}`, globalOptions));
  return rows;
}

/** A bash completion script for the command tree of `program`. */
export function bashCompletion(program: Command): string {
  const globalOptions = program.options
    .map((option) => option.long)
    .filter((long): long is string => Boolean(long) && long !== '--version');
  const rows = commandTable(program, 'coffer', globalOptions);
  const table = rows
    .map(([path, words]) => `    [${JSON.stringify(path)}]=${JSON.stringify(words)}`)
    .join('\n');
  return `# bash completion for coffer. Load it with:  source <(coffer completion bash)
_coffer_completion() {
  local -A words=(
${table}
  )
  local path="coffer" word i cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    if [[ -n "\${words["$path $word"]+set}" ]]; then
      path="$path $word"
    fi
  done
  local candidates="\${words["$path"]}"
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(printf '%s\\n' $candidates | grep -- '^-')" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(printf '%s\\n' $candidates | grep -v -- '^-')" -- "$cur"))
  fi
}
complete -o default -F _coffer_completion coffer
`;
}

/** `coffer completion bash`. */
export function registerCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash): source <(coffer completion bash)')
    .argument('[shell]', 'the shell', 'bash')
    .action((shell: string) => {
      if (shell !== 'bash') throw new CliError(`no completion for ${shell} yet; bash is supported`);
      process.stdout.write(bashCompletion(program));
    });
}
