import type { FastifyInstance } from 'fastify';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../log/log.js';
import { isDeadLetterTopic, readDeadLetter } from '../quality/dead-letter.js';
import type { PipelineStats } from '../runtime/instrument.js';

/** A running pipeline as the server sees it: its live statistics and its consumer lag. */
export interface RunningPipeline {
  readonly stats: PipelineStats;
  lag(): Promise<readonly { topic: string; partition: number; records: number }[]>;
}

/** The most dead letters `GET /v1/dead-letters` returns. */
export const MAX_DEAD_LETTERS_LISTED = 500;

/**
 * `GET /v1/pipelines`: every running pipeline with its operators' live counters, rates, watermarks and
 * latencies, its consumer lag and its dead letters by reason (what the dashboard draws).
 * `GET /v1/dead-letters?limit=N`: the newest dead letters of every dead-letter topic, newest first.
 *
 * @example
 * ```ts
 * const server = createServer({ log, pipelines: () => [runner] });
 * // curl localhost:8080/v1/pipelines → { pipelines: [{ name, status, nodes: [...], lag: [...], deadLetters: [...] }] }
 * ```
 */
export function pipelinesRoutes(options: { log: EventLog; clock: Clock; pipelines: () => readonly RunningPipeline[] }) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/v1/pipelines', async () => {
      const nowMs = options.clock.nowMs();
      const pipelines = await Promise.all(
        options.pipelines().map(async (p) => ({
          ...p.stats.describe(nowMs),
          lag: (await p.lag()).map((l) => ({ ...l, seconds: null })),
        })),
      );
      return { pipelines };
    });

    app.get<{ Querystring: { limit?: string } }>('/v1/dead-letters', async (request) => {
      const limitText = request.query.limit ?? '50';
      const limit = Number(limitText);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_DEAD_LETTERS_LISTED) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `limit must be an integer in 1..${MAX_DEAD_LETTERS_LISTED}, got '${limitText}'`);
      }
      const { log } = options;
      const items = [];
      for (const topic of (await log.listTopics()).filter(isDeadLetterTopic)) {
        const description = await log.describeTopic(topic);
        for (const p of description.partitions) {
          // The newest `limit` of each partition: read from there to the end.
          let offset = Math.max(p.earliestOffset, p.latestOffset - limit);
          while (offset < p.latestOffset) {
            const { batches, nextOffset } = await log.read(topic, p.partition, offset);
            if (nextOffset <= offset) break;
            for (const batch of batches) {
              for (let i = 0; i < batch.count; i++) {
                const letter = readDeadLetter(batch.recordAt(i));
                items.push({
                  topic: letter.dlqTopic,
                  partition: letter.dlqPartition,
                  offset: letter.dlqOffset,
                  timestampMs: letter.timestampMs,
                  reason: letter.reason,
                  code: letter.code ?? null,
                  stage: letter.stage ?? null,
                  check: letter.check ?? null,
                  sourceTopic: letter.topic ?? null,
                  payload: letter.value === null ? null : Buffer.from(letter.value).toString('utf8'),
                });
              }
            }
            offset = nextOffset;
          }
        }
      }
      items.sort((a, b) => b.timestampMs - a.timestampMs || b.offset - a.offset);
      return { items: items.slice(0, limit) };
    });
  };
}
