import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app/app.ts';
import { version } from '../../app/version.ts';
import { backupStream } from '../../backup/backup-writer.ts';
import { auditNow } from '../plugins/audit-plugin.ts';
import { rootResource } from '../route-guard.ts';

/**
 * `POST /v2/sys/backup`: the whole store as a backup file (docs/backup.md), streamed from one
 * consistent snapshot while the node keeps serving. Values stay encrypted under the root key.
 */
export function registerBackupRoutes(server: FastifyInstance, app: App): void {
  server.post(
    '/v2/sys/backup',
    {
      config: {
        guard: { permission: 'sys.backup', resource: () => rootResource },
        noStore: true,
        changesNothing: true,
      },
      schema: {
        tags: ['sys'],
        summary: 'Stream a backup of the whole store (encrypted values, manifest, checksum)',
        response: {
          200: {
            description: 'The backup file (gzip of JSON lines; docs/backup.md)',
            content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } },
          },
        },
      },
    },
    async (request, reply) => {
      // The backup's own event is durable and signed before the snapshot, so the file's audit
      // chain ends on a checkpoint that covers it.
      await auditNow(app, request, reply);
      await app.audit.signHead();
      const nowMs = app.clock.nowMs();
      const stream = await backupStream(app.storage, { cofferVersion: version, nowMs });
      stream.on('error', (err) =>
        app.logger.error({ err: err.message }, 'backup failed; the stream was cut'),
      );
      const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-');
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="coffer-backup-${stamp}.cbk"`)
        .send(stream);
    },
  );
}
