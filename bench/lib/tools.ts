import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** Thrown when the machine cannot run the benchmark as specified (missing tool, too few cores). */
export class BenchSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchSetupError';
  }
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks that `wrk` and `taskset` are installed and that the two CPUs the method pins to exist;
 * throws a BenchSetupError that says how to fix it otherwise.
 */
export function requireTools(serverCpu: number, loadCpu: number): void {
  const missing = ['wrk', 'taskset'].filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    const hints: Record<string, string> = {
      wrk: 'wrk (Debian/Ubuntu: apt-get install -y wrk)',
      taskset: 'taskset (Debian/Ubuntu: apt-get install -y util-linux)',
    };
    throw new BenchSetupError(
      `missing ${missing.map((tool) => hints[tool]).join(' and ')}. The benchmark pins the server with ` +
        'taskset and drives it with wrk; install them and run again.',
    );
  }
  const cpus = availableParallelism();
  if (Math.max(serverCpu, loadCpu) >= cpus || serverCpu === loadCpu) {
    throw new BenchSetupError(
      `the method needs two distinct CPUs (server on ${serverCpu}, load on ${loadCpu}); this machine has ${cpus}.`,
    );
  }
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
export function clockTicksPerSecond(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}
