import Handlebars from 'handlebars';
import type { TemplateConfig } from './agent-config.ts';
import { parseSecretReference } from './secret-reference.ts';

/** A template that cannot be used as written; `location` is `file:line`. The agent exits 2. */
export class TemplateSyntaxError extends Error {
  readonly location: string;
  constructor(location: string, message: string) {
    super(`${location}: ${message}`);
    this.name = 'TemplateSyntaxError';
    this.location = location;
  }
}

/** A value that cannot be rendered as asked (binary in text, a missing JSON field); names no value. */
export class TemplateValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateValueError';
  }
}

/** One `secret` call's literal arguments. */
export interface SecretCall {
  /** The reference as written (`PATH`, `PATH@7`, `PATH#STAGE`). */
  readonly reference: string;
  /** The dotted JSON field, when one is given. */
  readonly field: string | undefined;
}

/** A template parsed once at start. */
export interface ParsedTemplate {
  readonly config: TemplateConfig;
  /** Renders with the `secret` helper of `env` (synchronous; values prefetched). */
  readonly render: (env: typeof Handlebars) => string;
  /** Every secret reference the template reads. */
  readonly references: ReadonlySet<string>;
  /** Set when the whole template is one `{{ secret "P" }}`: its bytes are written exactly (binary too). */
  readonly wholeFile: string | undefined;
}

interface AstNode {
  type?: string;
  path?: { type?: string; original?: unknown };
  params?: AstNode[];
  value?: unknown;
  loc?: { start?: { line?: number } };
  [key: string]: unknown;
}

function lineOf(err: unknown): number | undefined {
  const fromField = (err as { lineNumber?: number }).lineNumber;
  if (typeof fromField === 'number') return fromField;
  const match = /line (\d+)/.exec((err as Error).message);
  return match ? Number(match[1]) : undefined;
}

/**
 * Why a render failed, in fixed words: never the engine's message, which may quote the value it
 * searched (a strict-mode lookup in a secret's text names the text).
 */
function renderFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  if (/ not defined in /.test(message)) return 'a name the template looks up is not defined (strict mode)';
  if (err instanceof TypeError)
    return 'the template looks up a field in a value that is not an object (take a JSON field with {{ secret "PATH" "field" }})';
  return 'the template failed to render';
}

function collectCalls(node: unknown, name: string, calls: SecretCall[]): void {
  if (Array.isArray(node)) {
    for (const item of node) collectCalls(item, name, calls);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const ast = node as AstNode;
  const isCall =
    (ast.type === 'MustacheStatement' || ast.type === 'SubExpression' || ast.type === 'BlockStatement') &&
    ast.path?.type === 'PathExpression' &&
    ast.path.original === 'secret';
  if (isCall) {
    const at = `${name}:${ast.loc?.start?.line ?? 1}`;
    const params = ast.params ?? [];
    if (params.length < 1 || params.length > 2 || params.some((p) => p.type !== 'StringLiteral'))
      throw new TemplateSyntaxError(
        at,
        'secret takes a quoted path and an optional quoted JSON field: {{ secret "PATH" "field" }}',
      );
    const reference = String(params[0]!.value);
    try {
      parseSecretReference(reference);
    } catch (err) {
      throw new TemplateSyntaxError(at, (err as Error).message);
    }
    const field = params[1] === undefined ? undefined : String(params[1].value);
    if (field !== undefined && !/^[^.]+(\.[^.]+)*$/.test(field))
      throw new TemplateSyntaxError(at, `"${field}" is not a dotted JSON field such as "db.password"`);
    calls.push({ reference, field });
  }
  for (const [key, value] of Object.entries(ast))
    if (key !== 'loc' && key !== 'path') collectCalls(value, name, calls);
}

/** The one `secret` call a template consists of (whitespace around it aside), if that is all it is. */
function wholeFileReference(body: AstNode[]): string | undefined {
  const meaningful = body.filter((n) => !(n.type === 'ContentStatement' && String(n.value).trim() === ''));
  const only = meaningful[0];
  if (meaningful.length !== 1 || only?.type !== 'MustacheStatement' || only.path?.original !== 'secret')
    return undefined;
  if (only.params?.length !== 1 || Object.keys((only.hash as object | undefined) ?? {}).length > 0)
    return undefined;
  return String(only.params[0]!.value);
}

/**
 * Parses a template with Handlebars (the engine; nothing home-made), finds every `secret` call and
 * checks that its arguments are literals, so the values can be fetched before a synchronous render.
 * Throws TemplateSyntaxError with `file:line`.
 */
export function parseTemplate(config: TemplateConfig): ParsedTemplate {
  let ast: ReturnType<typeof Handlebars.parse>;
  try {
    ast = Handlebars.parse(config.text);
  } catch (err) {
    const line = lineOf(err);
    const first = (err as Error).message.split('\n')[0]!.replace(/ on line \d+:?$/, '');
    throw new TemplateSyntaxError(`${config.name}:${line ?? 1}`, first);
  }
  const calls: SecretCall[] = [];
  collectCalls(ast.body, config.name, calls);
  const compiled = new Map<typeof Handlebars, ReturnType<typeof Handlebars.compile>>();
  return {
    config,
    references: new Set(calls.map((call) => call.reference)),
    wholeFile: wholeFileReference(ast.body as unknown as AstNode[]),
    render(env) {
      let template = compiled.get(env);
      if (!template) {
        template = env.compile(ast, { noEscape: true, strict: true });
        compiled.set(env, template);
      }
      try {
        return template({});
      } catch (err) {
        if (err instanceof TemplateValueError) throw err;
        // The line from the engine's field only: its message is never read into what is shown.
        const line = (err as { lineNumber?: unknown }).lineNumber;
        const at = typeof line === 'number' ? `${config.name}:${line}` : config.name;
        throw new TemplateSyntaxError(at, renderFailure(err));
      }
    },
  };
}
