/**
 * Names of the record headers Freshet itself writes, in one dependency-free place so that every way in
 * (HTTP ingest, the CLI, pipelines) writes the same ones.
 */
export const FreshetHeaders = {
  /** Wall time of ingest, decimal ms since the epoch (UTF-8), on every ingested record: for end-to-end latency. */
  INGEST_MS: 'freshet.ingest.ms',
  /** Dead letters: why the record was rejected (at most MAX_DLQ_REASON_CHARS). */
  DLQ_REASON: 'freshet.dlq.reason',
  /** Dead letters: the FRESHET_* code of the rejection. */
  DLQ_CODE: 'freshet.dlq.code',
  /** Dead letters: where it was rejected: `ingest`, `produce`, or a pipeline operator's name. */
  DLQ_STAGE: 'freshet.dlq.stage',
  /** Dead letters: the topic the record was meant for, or read from. */
  DLQ_TOPIC: 'freshet.dlq.topic',
  /** Dead letters read from a topic: their partition and offset there. */
  DLQ_PARTITION: 'freshet.dlq.partition',
  DLQ_OFFSET: 'freshet.dlq.offset',
  /** Dead letters from an HTTP request: the event's 0-based index in it. */
  DLQ_INDEX: 'freshet.dlq.index',
  /** Dead letters from `freshet produce`: the input file and 1-based line. */
  DLQ_FILE: 'freshet.dlq.file',
  DLQ_LINE: 'freshet.dlq.line',
} as const;

/** Longest dead-letter reason kept (longer ones are cut with an ellipsis). */
export const MAX_DLQ_REASON_CHARS = 512;
