import { PassThrough } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { changeItem, parseFeedStart } from '../../app/change-feed-service.ts';
import { ChangeStream } from '../../app/change-stream.ts';
import { ChangeStreamSlots } from '../../app/change-stream-slots.ts';
import { ChangesPageView, ChangesQueryString } from '../../core/api/changes-schemas.ts';
import { CofferError, errors } from '../../core/errors.ts';
import { limiterAddress } from '../../iam/limiter-address.ts';
import type { ChangeRow } from '../../storage/change-log.ts';
import { clientAddress } from '../client-address.ts';

const ProjectParams = Type.Object({ projectId: Type.String({ maxLength: 64 }) });
const StreamQueryString = Type.Object(
  {
    after: Type.Optional(Type.String({ maxLength: 200, description: 'changes after this cursor' })),
    resource: Type.Optional(Type.String({ maxLength: 2048, description: 'resource name prefix' })),
  },
  { additionalProperties: false },
);

/** Bytes a stream may have unsent before the client counts as too slow and the stream ends. */
const maxUnsentBytes = 1024 * 1024;
/** The longest a stream goes without re-checking its caller's token. */
const maxAuthCheckMs = 5000;

// Each row's SSE event, built once and shared (the same bytes) by every stream that shows it: the
// follower hands one row object to all streams, so 1,000 streams cost one JSON and one Buffer per
// change, not 1,000. Weak: an event goes with its row.
const frames = new WeakMap<ChangeRow, Buffer>();

/** The `id:` / `event:` / `data:` text of `row` as Server-Sent Events bytes. */
function frameOf(row: ChangeRow): Buffer {
  let frame = frames.get(row);
  if (frame === undefined) {
    const item = changeItem(row);
    frame = Buffer.from(`id: ${item.cursor}\nevent: change\ndata: ${JSON.stringify(item)}\n\n`);
    frames.set(row, frame);
  }
  return frame;
}

function bearerOf(header: string | undefined): string | undefined {
  return header ? /^Bearer ([^\s]+)$/i.exec(header)?.[1] : undefined;
}

/**
 * The change feed (docs/changes.md): a page of a project's changes, and the same as Server-Sent
 * Events. Open to any authenticated principal; each change is shown only when the caller may read
 * the resource it is about. One audit event per page and per stream (`changes.read`).
 */
export function registerChangesRoutes(server: FastifyInstance, app: App): void {
  const tags = ['changes'];
  const open = new Set<ChangeStream>();
  const slots = new ChangeStreamSlots({
    perPrincipal: app.config.changeStreamsPerPrincipal,
    perAddress: app.config.changeStreamsPerAddress,
  });
  // A server that closes ends its streams (they would otherwise hold it open until the grace ends).
  server.addHook('preClose', (done) => {
    for (const stream of open) stream.close();
    done();
  });
  const guard = {
    permission: 'authenticated' as const,
    auditAction: 'changes.read',
    resource: (p: Record<string, string>) => `projects/${p.projectId}`,
  };

  server.get<{ Params: { projectId: string }; Querystring: ChangesQueryString }>(
    '/v2/projects/:projectId/changes',
    {
      config: { guard },
      schema: {
        tags,
        summary: 'Changes of a project after a cursor (metadata only, filtered to what the caller may see)',
        params: ProjectParams,
        querystring: ChangesQueryString,
        response: { 200: ChangesPageView },
      },
    },
    async (request) => {
      const { after, pageSize, resource } = request.query;
      return app.changeFeed.page(request.principal!, request.params.projectId, {
        start: parseFeedStart(after, 'after'),
        ...(pageSize !== undefined ? { pageSize } : {}),
        ...(resource !== undefined ? { resource } : {}),
      });
    },
  );

  server.get<{ Params: { projectId: string }; Querystring: { after?: string; resource?: string } }>(
    '/v2/projects/:projectId/changes::stream',
    {
      config: { guard, noStore: true },
      schema: {
        tags,
        summary: 'The project’s changes as Server-Sent Events (id: cursor, event: change, data: the item)',
        params: ProjectParams,
        querystring: StreamQueryString,
        produces: ['text/event-stream'],
      },
    },
    async (request, reply) => {
      const lastEventId = request.headers['last-event-id'];
      const start =
        typeof lastEventId === 'string' && lastEventId !== ''
          ? parseFeedStart(lastEventId, 'Last-Event-ID')
          : parseFeedStart(request.query.after, 'after');
      // 410 (and 400) before the stream starts.
      const after = await app.changeFeed.startOf(start);
      const bearer = bearerOf(request.headers.authorization);
      if (bearer === undefined) throw errors.unauthenticated();
      // A client that left while the start was looked up: its 'close' has already fired, so a
      // stream started now would never end (and would hold its slot for ever). Nothing to send.
      if (request.raw.destroyed || reply.raw.destroyed) return reply.hijack();
      // 429 before anything is allocated; released when the stream ends, however it ends.
      const release = slots.acquire(request.principal!, limiterAddress(clientAddress(request)));
      const body = new PassThrough();
      const write = (text: string | Buffer) => {
        if (!body.destroyed) body.write(text);
        return body.writableLength <= maxUnsentBytes;
      };
      const timers: NodeJS.Timeout[] = [];
      const stream = new ChangeStream(
        {
          storage: app.storage,
          follower: app.changeFollower,
          feed: app.changeFeed,
          catchUpPauseMs: app.config.changePollMs,
        },
        {
          principal: request.principal!,
          projectId: request.params.projectId,
          resource: request.query.resource,
          after,
        },
        {
          send: (row) => write(frameOf(row)),
          end: (error) => {
            release();
            for (const timer of timers) clearInterval(timer);
            open.delete(stream);
            if (error && !body.destroyed)
              body.write(
                `event: error\ndata: ${JSON.stringify({ error: { code: error.code, message: error.message } })}\n\n`,
              );
            body.end();
          },
        },
      );
      open.add(stream);
      const heartbeat = setInterval(() => {
        if (!write(': heartbeat\n\n')) stream.close();
      }, app.config.changeStreamHeartbeatMs);
      let checking = false;
      const authCheck = setInterval(
        () => {
          if (checking) return;
          checking = true;
          void (async () => {
            try {
              if (app.barrier.sealed) return stream.close(errors.sealed());
              // The token (and the account behind it) must still be valid: cached, and dropped on
              // every IAM change, so a revocation ends the stream within this interval.
              await app.tokens.authenticate(bearer);
            } catch (err) {
              if (err instanceof CofferError && err.code === 'unauthenticated')
                stream.close(errors.unauthenticated('The token is no longer valid.'));
            } finally {
              checking = false;
            }
          })();
        },
        Math.min(maxAuthCheckMs, app.config.changeStreamHeartbeatMs),
      );
      heartbeat.unref();
      authCheck.unref();
      timers.push(heartbeat, authCheck);
      // Every way a stream ends goes through `stream.close()` once, and so through `end` (the release).
      reply.raw.on('close', () => stream.close());
      body.on('error', () => stream.close());
      write('retry: 1000\n: connected\n\n');
      stream.start();
      void reply.header('content-type', 'text/event-stream; charset=utf-8');
      void reply.header('x-accel-buffering', 'no');
      return reply.send(body);
    },
  );
}
