import { type TSchema, Type } from '@sinclair/typebox';
import { errorCatalogue } from '../errors.ts';
import { uuidPatternSource } from '../ids.ts';

/** The error body every failure answers with (SPEC §4). */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.Union(Object.keys(errorCatalogue).map((code) => Type.Literal(code))),
      message: Type.String(),
      requestId: Type.String(),
    }),
  },
  { $id: 'ErrorBody' },
);

/** A UUID path or body field. */
export const Uuid = Type.String({ pattern: uuidPatternSource, description: 'a lowercase UUID' });

/** A request body object: unknown fields are refused, never silently dropped. */
export function Body<T extends Record<string, TSchema>>(properties: T, description?: string) {
  return Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });
}

/** The `?pageSize=&pageToken=` query of every list. */
export const PageQuery = Type.Object(
  {
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, description: 'default 100; values above 1000 are clamped' }),
    ),
    pageToken: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);

/** A list answer of `item`. */
export function PageOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), nextPageToken: Type.Optional(Type.String()) });
}

/** An RFC 3339 UTC timestamp. */
export const Timestamp = Type.String({ format: 'date-time' });
