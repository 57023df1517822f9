/** A progress line on stderr, drawn only when stderr is a terminal (never in logs or pipes). */
export interface ProgressBar {
  /** Redraws (at most ten times a second) with `done` of `total`. */
  update(done: number, total: number): void;
  /** Clears the line. */
  finish(): void;
}

const width = 30;

/** A bar labelled `label` (e.g. `backup`); a no-op when stderr is not a TTY. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, finish() {} };
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const ratio = total > 0 ? Math.min(1, done / total) : 0;
      const filled = Math.round(ratio * width);
      stream.write(
        `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${done}/${total} rows`,
      );
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
