import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, FreshetError } from '../../src/core/errors.js';
import { checkpointLogger, createLogger, LOG_LEVEL_ENV, pipelineLogger } from '../../src/observe/logger.js';

function capture(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ ...options, destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { lines, logger };
}

describe('structured logs', () => {
  it('writes one JSON object per line with the level name, time and service', () => {
    const { lines, logger } = capture({ env: {} });
    const before = Date.now();
    logger.info({ topic: 'orders' }, 'topic created');
    logger.debug('not at info');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', service: 'freshet', topic: 'orders', msg: 'topic created' });
    expect(lines[0]!.time as number).toBeGreaterThanOrEqual(before);
  });

  it('binds pipeline, operator and checkpoint ids on child loggers', () => {
    const { lines, logger } = capture({ env: {} });
    const pipelineLog = pipelineLogger(logger, { pipeline: 'revenue', operator: 'window', worker: 2 });
    pipelineLog.warn({ lateEvents: 12 }, 'late events');
    checkpointLogger(pipelineLogger(logger, { pipeline: 'revenue' }), 42).info({ durationMs: 18 }, 'checkpoint completed');
    pipelineLogger(logger, { pipeline: 'p', checkpointId: 'c-7' }).error('x');
    expect(lines.map(({ time: _t, ...rest }) => rest)).toEqual([
      { level: 'warn', service: 'freshet', pipeline: 'revenue', operator: 'window', worker: 2, lateEvents: 12, msg: 'late events' },
      { level: 'info', service: 'freshet', pipeline: 'revenue', checkpointId: 42, durationMs: 18, msg: 'checkpoint completed' },
      { level: 'error', service: 'freshet', pipeline: 'p', checkpointId: 'c-7', msg: 'x' },
    ]);
  });

  it(`takes its level from ${LOG_LEVEL_ENV}, and refuses an unknown one with FRESHET_INVALID_CONFIG`, () => {
    const debug = capture({ env: { [LOG_LEVEL_ENV]: 'DEBUG' } });
    debug.logger.debug('seen');
    expect(debug.lines.map((l) => l.msg)).toEqual(['seen']);
    const warn = capture({ env: { [LOG_LEVEL_ENV]: 'warn' } });
    warn.logger.info('hidden');
    warn.logger.warn('shown');
    expect(warn.lines.map((l) => l.msg)).toEqual(['shown']);
    expect(capture({ level: 'silent', env: { [LOG_LEVEL_ENV]: 'trace' } }).logger.level).toBe('silent');
    expect(() => createLogger({ env: { [LOG_LEVEL_ENV]: 'loud' } })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG, message: expect.stringContaining(LOG_LEVEL_ENV) }));
  });

  it('serialises coded errors with their code and details', () => {
    const { lines, logger } = capture({ env: {} });
    logger.error({ err: new FreshetError(ErrorCodes.LOG_BUSY, 'queue full', { partition: 3 }) }, 'append failed');
    expect(lines[0]!.err).toMatchObject({ type: 'FreshetError', message: 'queue full', code: 'FRESHET_LOG_BUSY', details: { partition: 3 } });
  });

  it('is a logger fastify accepts as its own', async () => {
    const { lines, logger } = capture({ env: {} });
    const app = Fastify({ loggerInstance: logger });
    app.get('/x', async (request) => {
      request.log.info({ pipeline: 'p' }, 'handled');
      return 'ok';
    });
    await app.inject({ method: 'GET', url: '/x' });
    await app.close();
    const handled = lines.find((l) => l.msg === 'handled');
    expect(handled).toMatchObject({ level: 'info', service: 'freshet', pipeline: 'p', reqId: expect.any(String) });
    expect(lines.some((l) => l.msg === 'request completed')).toBe(true);
  });
});
