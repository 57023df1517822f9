import type { Command } from 'commander';
import { CliError } from './cli-error.ts';

/** `coffer agent --config agent.yaml [--once] [-- CMD ARGS]` (docs/agent.md). */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(
      'run the agent: cache secrets, render templates, serve a local listener, run a command with secrets (docs/agent.md)',
    )
    .requiredOption('--config <file>', 'the agent configuration (YAML)')
    .option('--once', 'render the templates and exit (an init container)')
    .argument('[command...]', 'a command to run with exec.env, after -- (overrides exec.command)')
    .addHelpText(
      'after',
      '\nExamples:\n  coffer agent --config agent.yaml\n  coffer agent --config agent.yaml --once\n  coffer agent --config agent.yaml -- node server.js',
    )
    .action(async (command: string[], flags: { config: string; once?: boolean }) => {
      // Loaded only here: templates and metrics are not needed by the other commands.
      const agent = await import('../agent/index.ts');
      try {
        process.exitCode = await agent.runAgent({
          configFile: flags.config,
          once: flags.once === true,
          command,
        });
      } catch (err) {
        if (err instanceof agent.ConfigError || err instanceof agent.TemplateSyntaxError)
          throw new CliError((err as Error).message, 2);
        if (err instanceof agent.AgentFailure) throw new CliError(err.message, err.exitCode);
        if (err instanceof agent.TemplateSecretError) throw new CliError(err.message, 1);
        throw err;
      }
    });
}
