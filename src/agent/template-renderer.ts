import Handlebars from 'handlebars';
import type { Logger } from '../core/logger.ts';
import { CofferApiError, CofferConnectionError } from '../sdk/index.ts';
import type { AgentCache, CacheEntry } from './agent-cache.ts';
import { fetchErrorCode, isTransient } from './agent-cache.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { cleanTempFiles, readExisting, setMode, writeFileAtomic } from './atomic-file.ts';
import { referenceKey, type SecretReference } from './secret-reference.ts';
import { runTemplateCommand } from './template-command.ts';
import { type ParsedTemplate, TemplateSyntaxError, TemplateValueError } from './template-parser.ts';

/** What became of one template in a render pass. */
export interface RenderOutcome {
  readonly template: string;
  readonly destination: string;
  /** The file was written (its content changed). */
  readonly written: boolean;
  /** Why it failed (never a value), or undefined. */
  readonly error: string | undefined;
}

/** A template that names a secret the agent cannot read; the agent stops at start. */
export class TemplateSecretError extends Error {
  constructor(template: string, reference: string, reason: string) {
    super(`template ${template} reads secret ${reference}, which cannot be read: ${reason}`);
    this.name = 'TemplateSecretError';
  }
}

/** What the renderer needs. */
export interface TemplateRendererDeps {
  readonly templates: readonly ParsedTemplate[];
  readonly cache: AgentCache;
  /** Turns a reference as written into the secret it names (the config's region and instance). */
  readonly resolve: (reference: string) => SecretReference;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
}

function jsonField(text: string, field: string, reference: string): string {
  let node: unknown;
  try {
    node = JSON.parse(text);
  } catch {
    throw new TemplateValueError(`secret ${reference} is not JSON, so it has no field ${field}`);
  }
  for (const part of field.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part))
      throw new TemplateValueError(`secret ${reference} has no JSON field ${field}`);
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === 'string' ? node : JSON.stringify(node);
}

/**
 * What a failed render says (logged, and printed by --once): our own messages, which name templates,
 * secrets and fields only, or fixed words and a code; never another error's message, which could
 * carry a value.
 */
function renderError(err: unknown, name: string, destination: string): string {
  if (err instanceof TemplateValueError) return `template ${name}: ${err.message}`;
  if (err instanceof TemplateSyntaxError) return `template ${err.message}`;
  if (err instanceof CofferApiError || err instanceof CofferConnectionError)
    return `template ${name}: a secret it reads cannot be read (${fetchErrorCode(err)})`;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `cannot write ${destination} (${code})`;
  return `template ${name}: the render failed (internal)`;
}

/**
 * Renders the templates from cached values and writes each file atomically when its content changed,
 * then runs its command. A failing template is logged and counted; the others still render. After
 * `watch()`, a changed secret re-renders the templates that read it (coalesced: one pass at a time).
 */
export class TemplateRenderer {
  readonly #deps: TemplateRendererDeps;
  readonly #env = Handlebars.create();
  #values = new Map<string, CacheEntry>();
  readonly #written = new Map<ParsedTemplate, Buffer>();
  readonly #listeners = new Set<(outcome: RenderOutcome) => void>();
  readonly #dirty = new Set<ParsedTemplate>();
  /** Templates whose file keeps its last content because a secret they read can no longer be read. */
  readonly #kept = new Set<ParsedTemplate>();
  #running: Promise<void> | undefined;

  constructor(deps: TemplateRendererDeps) {
    this.#deps = deps;
    this.#env.registerHelper('secret', (...args: unknown[]) => {
      args.pop(); // Handlebars' options object
      const [reference, field] = args as [string, string | undefined];
      const entry = this.#values.get(reference);
      if (!entry) throw new TemplateValueError(`secret ${reference} was not fetched`);
      if (entry.view.binaryValue !== undefined)
        throw new TemplateValueError(
          `secret ${reference} is binary; it can only be a whole file (a template that is just {{ secret "${reference}" }})`,
        );
      const text = entry.view.value ?? '';
      return field === undefined ? text : jsonField(text, field, reference);
    });
  }

  /** Every secret the templates read. */
  references(): SecretReference[] {
    const all = new Map<string, SecretReference>();
    for (const template of this.#deps.templates)
      for (const reference of template.references) {
        const ref = this.#deps.resolve(reference);
        all.set(referenceKey(ref), ref);
      }
    return [...all.values()];
  }

  /**
   * Fetches every value the templates read (before anything is written, so nothing renders half
   * done). A secret the agent may not read, or that does not exist, throws TemplateSecretError
   * naming the template; an unreachable server throws the connection error (the caller retries).
   */
  async prefetch(): Promise<void> {
    for (const template of this.#deps.templates)
      for (const reference of template.references) {
        try {
          await this.#deps.cache.get(this.#deps.resolve(reference));
        } catch (err) {
          if (isTransient(err)) throw err;
          const code = fetchErrorCode(err);
          throw new TemplateSecretError(
            template.config.name,
            reference,
            `${(err as Error).message} (${code})`,
          );
        }
      }
  }

  /** Renders every template once; resolves with each outcome (never throws). */
  async renderAll(): Promise<RenderOutcome[]> {
    const outcomes: RenderOutcome[] = [];
    for (const template of this.#deps.templates) outcomes.push(await this.#render(template));
    return outcomes;
  }

  /** Calls `listener` after each render attempt of a template (written or failed). */
  onRendered(listener: (outcome: RenderOutcome) => void): void {
    this.#listeners.add(listener);
  }

  /** How many templates keep their last file because a secret they read can no longer be read. */
  get kept(): number {
    return this.#kept.size;
  }

  /**
   * Re-renders the templates reading a secret whenever the cache says it changed. A secret dropped
   * (the server now refuses it) leaves their files as last rendered: logged and counted, never
   * re-rendered with a hole; they render again once the secret can be read.
   */
  watch(): void {
    const { cache, templates, resolve, logger, metrics } = this.#deps;
    cache.onChange((entry, key) => {
      for (const template of templates)
        for (const reference of template.references) {
          if (referenceKey(resolve(reference)) !== key) continue;
          if (entry !== undefined) {
            this.#dirty.add(template);
            continue;
          }
          this.#kept.add(template);
          metrics.renderErrors.inc();
          logger.error(
            { template: template.config.name, destination: template.config.destination, secret: reference },
            'a secret this template reads can no longer be read (denied or gone); the file keeps its last rendered content',
          );
        }
      if (this.#dirty.size > 0 && !this.#running) this.#running = this.#drain();
    });
  }

  /** Resolves when no re-render is pending. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#dirty.size > 0) {
        const next = [...this.#dirty];
        this.#dirty.clear();
        for (const template of next) await this.#render(template);
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #content(template: ParsedTemplate): Promise<Buffer> {
    const values = new Map<string, CacheEntry>();
    for (const reference of template.references)
      values.set(reference, await this.#deps.cache.get(this.#deps.resolve(reference)));
    if (template.wholeFile !== undefined) return values.get(template.wholeFile)!.bytes;
    this.#values = values;
    try {
      return Buffer.from(template.render(this.#env), 'utf8');
    } finally {
      this.#values = new Map();
    }
  }

  async #render(template: ParsedTemplate): Promise<RenderOutcome> {
    const { destination, mode, name } = { ...template.config, name: template.config.name };
    const { logger, metrics } = this.#deps;
    let written = false;
    let error: string | undefined;
    try {
      const content = await this.#content(template);
      let previous = this.#written.get(template);
      if (previous === undefined) {
        await cleanTempFiles(destination);
        const existing = await readExisting(destination);
        if (existing?.content.equals(content) && existing.mode !== mode) await setMode(destination, mode);
        if (existing?.content.equals(content)) previous = existing.content;
      }
      if (previous === undefined || !previous.equals(content)) {
        await writeFileAtomic(destination, content, mode);
        written = true;
        metrics.renders.inc();
        logger.info({ template: name, destination }, 'template rendered');
      }
      this.#written.set(template, content);
      this.#kept.delete(template);
    } catch (err) {
      metrics.renderErrors.inc();
      error = renderError(err, name, destination);
      logger.error({ template: name, destination }, error);
    }
    if (written && template.config.command !== undefined) {
      const outcome = await runTemplateCommand(template.config.command, template.config.commandTimeoutMs);
      if (!outcome.ok) {
        metrics.commandFailures.inc();
        logger.error({ template: name, destination, reason: outcome.reason }, 'the template command failed');
      }
    }
    const outcome = { template: name, destination, written, error };
    for (const listener of this.#listeners) listener(outcome);
    return outcome;
  }
}
