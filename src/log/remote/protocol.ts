import { type ErrorCode, FreshetError } from '../../core/errors.js';

/*
 * The message protocol between a `RemoteLog` (client, usually in a worker thread) and a `LogHost`
 * (server, the thread that owns the EventLog). One request message per EventLog call, one response per
 * request, matched by `id`. Record payloads never travel as objects: append/produce requests carry one
 * ArrayBuffer of encoded records (record-codec.ts), read responses one ArrayBuffer of encoded records,
 * and both are transferred, not copied.
 *
 *   request  := { id, op, args, records? }       args: the call's arguments minus the records
 *   response := { id, ok: true, result, records? } | { id, ok: false, error: TransferredError }
 */

export type LogOp =
  | 'createTopic'
  | 'ensureTopic'
  | 'deleteTopic'
  | 'listTopics'
  | 'describeTopic'
  | 'append'
  | 'produce'
  | 'read'
  | 'earliestOffset'
  | 'latestOffset'
  | 'offsetForTimestamp'
  | 'truncate'
  | 'commitOffsets'
  | 'committedOffsets'
  | 'close';

export interface LogRequest {
  readonly id: number;
  readonly op: LogOp;
  readonly args: readonly unknown[];
  /** append/produce: the records, encoded with `encodeProducerRecords`. */
  readonly records?: ArrayBuffer;
}

export type LogResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: TransferredError };

/** Result of a `read` on the wire: the records encoded with `encodeConsumedRecords` (null when none). */
export interface WireReadResult {
  readonly records: ArrayBuffer | null;
  readonly nextOffset: number;
  readonly highWatermark: number;
}

/** Result of a `produce` on the wire: partition and offset of each record, in input order. */
export interface WireProduceResult {
  readonly partitions: ArrayBuffer;
  readonly offsets: ArrayBuffer;
}

/** An error as it crosses a thread boundary (structured-cloneable). */
export interface TransferredError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly details?: Record<string, unknown>;
  readonly stack?: string;
}

/** The cloneable form of any thrown value; coded errors keep their code and details. */
export function transferError(error: unknown): TransferredError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  let details = (error as { details?: unknown }).details as Record<string, unknown> | undefined;
  if (details !== undefined) {
    try {
      details = structuredClone(details);
    } catch {
      details = undefined; // not cloneable (functions, handles): the message still says what happened
    }
  }
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' && { code }),
    ...(details !== undefined && { details }),
    ...(error.stack !== undefined && { stack: error.stack }),
  };
}

/** Rebuilds a thrown error on the receiving side: `FRESHET_*` codes come back as FreshetError. */
export function restoreError(t: TransferredError): Error {
  let error: Error;
  if (t.code?.startsWith('FRESHET_')) {
    error = new FreshetError(t.code as ErrorCode, t.message, t.details);
  } else {
    error = new Error(t.message);
    error.name = t.name;
    if (t.code !== undefined) (error as Error & { code?: string }).code = t.code;
  }
  // Keep the original stack (where it was thrown) below the local one.
  if (t.stack !== undefined) error.stack = `${error.stack ?? ''}\n    --- thrown in another thread ---\n${t.stack}`;
  return error;
}
