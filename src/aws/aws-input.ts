/**
 * The AWS face's request bodies: JSON parsing (SerializationException, as AWS answers a body it
 * cannot read) and the operation's schema (a value of the wrong JSON type is a
 * SerializationException; a missing member or a value outside AWS's limits a ValidationException
 * with AWS's "N validation errors detected: …" message). Members the schema does not know are
 * ignored, as AWS ignores them. Messages never repeat a value (it may be a secret).
 */
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { AwsError } from './aws-errors.ts';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerOf(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

/** Refuses a member name or string that is not well-formed UTF-16 (a `\ud800` escape): no name, ARN or context has one. */
function wellFormed(this: unknown, key: string, value: unknown): unknown {
  if (!key.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) throw notWellFormed;
  return value;
}

const notWellFormed = new Error('not well-formed');

/**
 * Parses a request body as a JSON object; an empty body is `{}`. A string holding a lone surrogate
 * is a SerializationException (as unreadable JSON): names built from it could not be URL-encoded.
 */
export function parseJsonBody(body: Buffer | undefined): Record<string, unknown> {
  if (body === undefined || body.length === 0) return {};
  let value: unknown;
  try {
    const text = body.toString('utf8');
    // Decoded UTF-8 is well-formed (a bad sequence becomes U+FFFD): only a `\u` escape can make a
    // lone surrogate, and only then is the (slower) reviver needed.
    value = text.includes('\\u') ? JSON.parse(text, wellFormed) : JSON.parse(text);
  } catch {
    throw new AwsError('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new AwsError('SerializationException', 'Start of structure or map found where not expected.');
  return value as Record<string, unknown>;
}

const typeErrors = new Set<ValueErrorType>([
  ValueErrorType.String,
  ValueErrorType.Number,
  ValueErrorType.Integer,
  ValueErrorType.Boolean,
  ValueErrorType.Object,
  ValueErrorType.Array,
  ValueErrorType.Null,
]);

const expectedNames: Partial<Record<ValueErrorType, string>> = {
  [ValueErrorType.String]: 'String',
  [ValueErrorType.Number]: 'Double',
  [ValueErrorType.Integer]: 'Integer',
  [ValueErrorType.Boolean]: 'Boolean',
  [ValueErrorType.Object]: 'Structure',
  [ValueErrorType.Array]: 'List',
  [ValueErrorType.Null]: 'Null',
};

function jsonKind(value: unknown): string {
  if (value === null) return 'NULL_VALUE';
  if (Array.isArray(value)) return 'START_ARRAY';
  switch (typeof value) {
    case 'string':
      return 'STRING_VALUE';
    case 'number':
      return 'NUMBER_VALUE';
    case 'boolean':
      return 'BOOLEAN_VALUE';
    default:
      return 'START_OBJECT';
  }
}

/** AWS names a member by its path with lowercase initials: `/Filters/0/Key` → `filters.1.member.key`. */
function memberPath(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '')
    .map((part) =>
      /^\d+$/.test(part) ? `${Number(part) + 1}.member` : part[0]!.toLowerCase() + part.slice(1),
    )
    .join('.');
}

function constraintOf(error: ValueError): string | undefined {
  const schema = error.schema as Record<string, unknown>;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'Member must not be null';
    case ValueErrorType.StringMinLength:
      return `Member must have length greater than or equal to ${String(schema.minLength)}`;
    case ValueErrorType.StringMaxLength:
      return `Member must have length less than or equal to ${String(schema.maxLength)}`;
    case ValueErrorType.StringPattern:
      return `Member must satisfy regular expression pattern: ${String(schema.pattern)}`;
    case ValueErrorType.ArrayMinItems:
      return `Member must have length greater than or equal to ${String(schema.minItems)}`;
    case ValueErrorType.ArrayMaxItems:
      return `Member must have length less than or equal to ${String(schema.maxItems)}`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `Member must have value greater than or equal to ${String(schema.minimum)}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `Member must have value less than or equal to ${String(schema.maximum)}`;
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return `Member must have value greater than ${String(schema.exclusiveMinimum)}`;
    case ValueErrorType.NumberExclusiveMaximum:
    case ValueErrorType.IntegerExclusiveMaximum:
      return `Member must have value less than ${String(schema.exclusiveMaximum)}`;
    case ValueErrorType.ObjectMinProperties:
      return `Member must have length greater than or equal to ${String(schema.minProperties)}`;
    case ValueErrorType.ObjectMaxProperties:
      return `Member must have length less than or equal to ${String(schema.maxProperties)}`;
    case ValueErrorType.Literal:
    case ValueErrorType.Union: {
      const choices = (schema.anyOf as Array<{ const?: unknown }> | undefined)
        ?.map((choice) => choice.const)
        .filter((value) => typeof value === 'string');
      if (choices && choices.length > 0) return `Member must satisfy enum value set: [${choices.join(', ')}]`;
      if (schema.const !== undefined) return `Member must satisfy enum value set: [${String(schema.const)}]`;
      return 'Member must satisfy one of the allowed shapes';
    }
    case ValueErrorType.ObjectAdditionalProperties:
      return undefined;
    default:
      return `Member must satisfy its constraint (${error.message})`;
  }
}

/**
 * Checks an operation's input against its schema; throws SerializationException for a value of the
 * wrong JSON type, ValidationException for every other violation (at most 10 listed, like AWS).
 */
export function validateInput(schema: TSchema, input: Record<string, unknown>): void {
  const check = checkerOf(schema);
  if (check.Check(input)) return;
  const messages: string[] = [];
  for (const error of check.Errors(input)) {
    // A missing member is reported once, as required (not again as a value of the wrong type).
    if (error.value === undefined && error.type !== ValueErrorType.ObjectRequiredProperty) continue;
    const path = memberPath(error.path);
    if (typeErrors.has(error.type)) {
      const expected = expectedNames[error.type] ?? 'value';
      throw new AwsError(
        'SerializationException',
        `${jsonKind(error.value)} can not be converted to ${expected}${path ? ` at '${path}'` : ''}`,
      );
    }
    const constraint = constraintOf(error);
    if (constraint === undefined) continue;
    const message = `Value at '${path}' failed to satisfy constraint: ${constraint}`;
    if (!messages.includes(message)) messages.push(message);
  }
  if (messages.length === 0) return;
  const shown = messages.slice(0, 10);
  throw new AwsError(
    'ValidationException',
    `${messages.length} validation error${messages.length === 1 ? '' : 's'} detected: ${shown.join('; ')}`,
  );
}
