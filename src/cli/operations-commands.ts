import type { Command } from 'commander';
import type { CofferClient, OperationRef, OperationView } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { CliError, outputFormat, printResource } from './cli-output.ts';
import { resolveRegion } from './cli-resolve.ts';

/** A progress line: a bar on a terminal, plain lines (only when progress changes) otherwise. */
function progressReporter(): { update(operation: OperationView): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = '';
  return {
    update(operation) {
      const { total, done } = operation.progress;
      // A paused rewrap says why (a service account disabled or without rights) and goes on once fixed.
      const state = operation.error ? `${operation.state}: ${operation.error}` : operation.state;
      if (tty) {
        const width = 30;
        const filled = total > 0 ? Math.round((done / total) * width) : operation.done ? width : 0;
        const percent = total > 0 ? Math.floor((done / total) * 100) : operation.done ? 100 : 0;
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${String(percent).padStart(3)}% ${done}/${total} ${state}\x1b[K`,
        );
        return;
      }
      const line = `operation ${operation.id}: ${state} ${done}/${total}`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}

/**
 * Waits for an operation with progress on stderr, prints its final state, and fails (exit 1) when it
 * ended with an error.
 */
export async function waitForOperation(
  command: Command,
  client: CofferClient,
  ref: OperationRef,
  intervalMs = 500,
): Promise<OperationView> {
  const progress = progressReporter();
  let operation: OperationView;
  try {
    operation = await client.operations.wait(ref, { intervalMs, onProgress: (op) => progress.update(op) });
  } finally {
    progress.end();
  }
  if (outputFormat(command) !== 'table') printResource(command, operation);
  else
    process.stdout.write(
      `Operation ${operation.id} ${operation.error ? `failed (${operation.state})` : 'done'}.\n`,
    );
  if (operation.error) throw new CliError(`operation ${operation.id} failed: ${operation.error}`);
  return operation;
}

/** `coffer operations describe|wait`. */
export function registerOperationsCommands(program: Command): void {
  const operations = program
    .command('operations')
    .description('long-running operations (instance key switches)');

  operations
    .command('describe')
    .description('show an operation and its progress')
    .argument('<operation-id>', 'operation id')
    .action(async (operationId: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(
        command,
        await client.operations.get({ ...(await resolveRegion(command, client)), operationId }),
      );
    });

  operations
    .command('wait')
    .description('wait until an operation is done (a progress bar on a terminal, lines otherwise)')
    .argument('<operation-id>', 'operation id')
    .option('--interval <ms>', 'polling interval in ms', '500')
    .action(async (operationId: string, flags: { interval: string }, command: Command) => {
      const client = cofferClient(command);
      const interval = Number(flags.interval);
      if (!Number.isFinite(interval) || interval < 10)
        throw new CliError('--interval takes milliseconds (≥ 10)');
      await waitForOperation(
        command,
        client,
        { ...(await resolveRegion(command, client)), operationId },
        interval,
      );
    });
}
