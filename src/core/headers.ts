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
  /** Dead letters from a pipeline's quality check: the check's name (the stage is in DLQ_STAGE). */
  DLQ_CHECK: 'freshet.dlq.check',
  /** Dead letters from a quality check: `original` (the bytes read from DLQ_TOPIC) or `json`/`msgpack` (the checked value re-encoded). */
  DLQ_PAYLOAD: 'freshet.dlq.payload',
  /** Records re-submitted by `freshet dlq replay`: the dead letter they came from, `<dlq topic>/<partition>/<offset>`. */
  REPLAY_OF: 'freshet.replay.of',
} as const;

/** Longest dead-letter reason kept (longer ones are cut with an ellipsis). */
export const MAX_DLQ_REASON_CHARS = 512;
