import type { EventLog } from '../log/log.js';
import type { Plan } from '../plan/plan.js';
import { VIEW_REGISTRY_TOPIC } from '../plan/view-update.js';

/**
 * Creates the topics a plan writes (missing ones only) and announces its views in the registry topic, so a
 * query process following the log learns each view's kind before its first update. Runs once per start:
 * the registry keeps the latest definition per view name, so re-announcing is harmless.
 */
export async function prepareSinkTopics(plan: Plan, log: EventLog, nowMs: number): Promise<void> {
  const announcements = [];
  for (const node of plan.nodes) {
    if (node.kind === 'topicSink') await log.ensureTopic(node.topic, { partitions: node.partitions });
    if (node.kind === 'viewSink') {
      await log.ensureTopic(node.view.topic, { partitions: node.partitions });
      announcements.push({ key: Buffer.from(node.view.name), value: Buffer.from(JSON.stringify(node.view)), timestampMs: nowMs });
    }
  }
  if (announcements.length > 0) {
    await log.ensureTopic(VIEW_REGISTRY_TOPIC, { partitions: 1 });
    await log.produce(VIEW_REGISTRY_TOPIC, announcements);
  }
}
