/** A problem the CLI reports in one line before exiting non-zero. */
export class CliError extends Error {
  /** The exit code (default 1). */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
