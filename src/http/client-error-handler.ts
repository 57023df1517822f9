import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../core/errors.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';

/** How Coffer answers an error the HTTP parser found before any route ran. */
interface ParserAnswer {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}

const answers: Readonly<Record<string, ParserAnswer>> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'request_timeout',
    message: 'The request was not received in time (headersTimeoutMs / requestTimeoutMs).',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'invalid_argument',
    message: 'The request headers are too large.',
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    code: 'payload_too_large',
    message: 'The chunk extensions of the request are too large.',
  },
};

const malformed: ParserAnswer = {
  status: 400,
  code: 'invalid_argument',
  message: 'The request is not valid HTTP/1.1 (request line, headers or body framing).',
};

/** The in-flight response Node keeps on a socket, if any. */
interface SocketWithResponse {
  _httpMessage?: { headersSent?: boolean } | null;
}

/**
 * Fastify's `clientErrorHandler`: a request the parser refused (bad request line, headers too large,
 * not received in time) gets Coffer's `{"error":{code,message,requestId}}` body and the connection is
 * closed. The log line has the parser's error code only: the raw bytes (`err.rawPacket`) may hold a
 * bearer token.
 */
export function createClientErrorHandler(
  logger: Logger,
): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = (err.code !== undefined ? answers[err.code] : undefined) ?? malformed;
    const requestId = newTimeOrderedUuid();
    logger.info(
      {
        requestId,
        parserError: err.code ?? 'unknown',
        status: answer.status,
        remoteAddress: socket.remoteAddress,
      },
      'request refused before routing',
    );
    // Like Node: never write into a response that has already started on this socket.
    const inFlight = (socket as unknown as SocketWithResponse)._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) {
      const body = JSON.stringify({ error: { code: answer.code, message: answer.message, requestId } });
      socket.write(
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\n` +
          'Content-Type: application/json; charset=utf-8\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          `X-Request-Id: ${requestId}\r\n` +
          'Connection: close\r\n\r\n' +
          body,
      );
    }
    socket.destroy();
  };
}
