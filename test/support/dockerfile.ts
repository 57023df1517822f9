/** One instruction of a Dockerfile: keyword (upper case), its arguments, and its build stage. */
export interface DockerInstruction {
  readonly keyword: string;
  readonly args: string;
  /** Index of the stage (-1 before the first FROM). */
  readonly stage: number;
}

/** A build stage: its base image (ARGs resolved) and name. */
export interface DockerStage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: DockerInstruction[];
}

/**
 * Parses a Dockerfile's structure: comments dropped, `\` continuations joined, `${ARG}` in FROM
 * resolved with the defaults of the ARGs declared before the first FROM.
 */
export function parseDockerfile(text: string): { instructions: DockerInstruction[]; stages: DockerStage[] } {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending !== '') throw new Error('the last instruction ends with a continuation');
  const globalArgs = new Map<string, string>();
  const instructions: DockerInstruction[] = [];
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`not an instruction: ${line}`);
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'ARG' && stages.length === 0) {
      const [name, value] = args.split('=', 2);
      globalArgs.set(name!, value ?? '');
    }
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`bad FROM: ${line}`);
      const image = from[1]!.replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
        if (!globalArgs.has(name)) throw new Error(`FROM uses undeclared ARG ${name}`);
        return globalArgs.get(name)!;
      });
      stages.push({ image, name: from[2], instructions: [] });
    }
    const instruction = { keyword, args, stage: stages.length - 1 };
    instructions.push(instruction);
    stages[stages.length - 1]?.instructions.push(instruction);
  }
  return { instructions, stages };
}

/** The arguments of an exec-form (`["a", "b"]`) instruction. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string'))
    throw new Error(`not exec form: ${args}`);
  return parsed;
}

/** `ENV a=b c=d` instructions of a stage as one map (later wins). */
export function stageEnv(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    for (const pair of args.split(/\s+/)) {
      const [name, value] = pair.split('=', 2);
      if (value === undefined) throw new Error(`ENV without =: ${args}`);
      env[name!] = value;
    }
  }
  return env;
}

/**
 * Whether `.dockerignore` keeps `path` (relative, `/`-separated) in the build context: the last
 * pattern matching the path or one of its parent directories decides; `!` re-includes.
 */
export function dockerContextKeeps(dockerignore: string, path: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let kept = true;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const glob = (negated ? pattern.slice(1) : pattern).replace(/^\/|\/$/g, '');
    const regex = new RegExp(
      `^${glob
        .split('**')
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('.*')
        .replace(/\.\*\//g, '(?:.*/)?')}$`,
    );
    if (prefixes.some((prefix) => regex.test(prefix))) kept = negated;
  }
  return kept;
}
