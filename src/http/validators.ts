import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS; its default export is the plugin function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

/**
 * Bodies are validated strictly (no type coercion, unknown fields refused, never stripped);
 * querystrings and path parameters are strings on the wire, so there types are coerced.
 */
export function schemaValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  return ({ schema, httpPart }) => {
    const validate = (httpPart === 'body' ? strict : coercing).compile(schema as object);
    // `true` keeps the (possibly coerced, defaulted in place) data as it is, with no result object.
    return (data: unknown) =>
      validate(data)
        ? true
        : { error: Object.assign(new Error(describe(validate.errors)), { validation: validate.errors }) };
  };
}

function describe(
  errs:
    | ReadonlyArray<{ instancePath: string; message?: string; params?: Record<string, unknown> }>
    | null
    | undefined,
): string {
  const first = errs?.[0];
  if (!first) return 'invalid';
  const path = first.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : '';
  if (first.params && 'additionalProperty' in first.params) {
    return `${path ? `${path}: ` : ''}unknown field "${String(first.params.additionalProperty)}"`;
  }
  return `${path ? `${path} ` : ''}${first.message ?? 'is invalid'}`;
}
