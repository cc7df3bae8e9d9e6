import type { EventLog } from '../../src/log/log.js';
import { encodeViewUpdate, VIEW_REGISTRY_TOPIC, viewTopic, type ViewDefinition, type ViewKind, type ViewUpdate } from '../../src/plan/view-update.js';

/** Announces a view in the registry topic, as a pipeline's `.toView` does. */
export async function announce(log: EventLog, name: string, kind: ViewKind, extra: Partial<ViewDefinition> = {}, partitions = 2): Promise<ViewDefinition> {
  const def: ViewDefinition = { name, kind, pipeline: 'test', topic: viewTopic(name), ...extra };
  await log.ensureTopic(VIEW_REGISTRY_TOPIC, { partitions: 1 });
  await log.ensureTopic(def.topic, { partitions });
  await log.produce(VIEW_REGISTRY_TOPIC, [{ key: Buffer.from(name), value: Buffer.from(JSON.stringify(def)) }]);
  return def;
}

/** Writes updates to a view's results topic (record key = view key, so a key keeps its partition). */
export async function writeUpdates(log: EventLog, name: string, updates: readonly ViewUpdate[]): Promise<void> {
  await log.produce(
    viewTopic(name),
    updates.map((u) => ({ key: Buffer.from(u.key), value: encodeViewUpdate(u), timestampMs: u.eventTimeMs })),
  );
}

/** Polls `check` until it returns true (or fails after `timeoutMs`). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
