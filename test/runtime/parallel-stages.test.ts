import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { count } from '../../src/dsl/aggregators/index.js';
import { compile } from '../../src/runtime/compile.js';
import { buildTaskPlan, planStages, repartitionTopic } from '../../src/runtime/parallel/stages.js';

/** How plans split into stages and tasks (pure: no threads, no log). */

const partitionsOf = (counts: Record<string, number>) => (topic: string) => counts[topic]!;
interface E {
  k: string;
  t: number;
}

describe('planStages', () => {
  it('a keyed window: stage 0 reads the source and writes the repartition topic; stage 1 reads it', () => {
    const plan = pipeline('clicks', (p) => {
      p.source<E>('events').filter((e) => e.t > 0).keyBy((e) => e.k).window(tumbling({ sizeMs: 10 })).aggregate(count()).collect('out');
    }).plan();
    const layout = planStages(plan, { partitionsOf: partitionsOf({ events: 3 }) });
    expect(layout.repartitions).toEqual([{ keyBy: 'keyBy-1', topic: 'clicks.keyBy-1.repartition', sinkName: 'keyBy-1.repartition-sink', sourceName: 'keyBy-1.repartition-source' }]);
    expect(layout.stages.map((s) => [s.nodes, s.partitions])).toEqual([
      [['source-events', 'filter-1', 'keyBy-1'], 3],
      [['window-1', 'collect-out'], 3],
    ]);
    expect(layout.tasks.map((t) => t.id)).toEqual(['0.0', '0.1', '0.2', '1.0', '1.1', '1.2']);
    const reader = layout.tasks.find((t) => t.id === '1.2')!;
    expect(reader.inputs).toEqual([{ kind: 'repartition', keyBy: 'keyBy-1', topic: 'clicks.keyBy-1.repartition', partitions: [2], writers: ['0.0', '0.1', '0.2'] }]);
    const writer = layout.tasks.find((t) => t.id === '0.1')!;
    expect(writer.inputs).toEqual([{ kind: 'source', node: 'source-events', topic: 'events', role: 'stream', partitions: [1] }]);
    expect(writer.outputs).toEqual(['keyBy-1']);
    // The sub-plans compile: the keyBy is followed by its repartition sink, the window reads the source.
    const upstream = buildTaskPlan(plan, layout, writer).plan.nodes.map((n) => `${n.kind}:${n.name}`);
    expect(upstream).toEqual(['source:source-events', 'filter:filter-1', 'keyBy:keyBy-1', 'topicSink:keyBy-1.repartition-sink']);
    const downstream = buildTaskPlan(plan, layout, reader).plan;
    expect(downstream.nodes.map((n) => `${n.kind}:${n.name}`)).toEqual(['source:keyBy-1.repartition-source', 'windowAggregate:window-1', 'collectSink:collect-out']);
    expect(() => compile(downstream, { partitionsOf: () => 1, nowMs: 0 })).not.toThrow();
  });

  it('repartition topics take the largest stream-source partition count, or the option', () => {
    const plan = pipeline('p', (p) => {
      const a = p.source<E>('a').keyBy((e) => e.k);
      const b = p.source<E>('b').keyBy((e) => e.k);
      a.intervalJoin(b, { beforeMs: 1, afterMs: 1 }, (x, y) => [x, y]).collect('out');
    }).plan();
    const layout = planStages(plan, { partitionsOf: partitionsOf({ a: 2, b: 5 }) });
    expect(layout.repartitionPartitions).toBe(5);
    expect(layout.stages.map((s) => s.partitions)).toEqual([2, 5, 5]);
    // Co-partitioned: join task p reads partition p of both sides, each with all its writers.
    const join = layout.tasks.find((t) => t.id === '2.4')!;
    expect(join.inputs).toEqual([
      { kind: 'repartition', keyBy: 'keyBy-1', topic: 'p.keyBy-1.repartition', partitions: [4], writers: ['0.0', '0.1'] },
      { kind: 'repartition', keyBy: 'keyBy-2', topic: 'p.keyBy-2.repartition', partitions: [4], writers: ['1.0', '1.1', '1.2', '1.3', '1.4'] },
    ]);
    expect(planStages(plan, { partitionsOf: partitionsOf({ a: 2, b: 5 }), repartitionPartitions: 2 }).stages.map((s) => s.partitions)).toEqual([2, 5, 2]);
  });

  it('tables are global: every task that joins one reads all its partitions', () => {
    const plan = pipeline('p', (p) => {
      const t = p.table<E>('rows');
      p.source<E>('events').join(t, { key: (e) => e.k }, (e, r) => [e, r]).collect('out');
    }).plan();
    const layout = planStages(plan, { partitionsOf: partitionsOf({ rows: 3, events: 2 }) });
    expect(layout.stages.map((s) => s.nodes)).toEqual([['source-events', 'join-1', 'collect-out']]);
    for (const task of layout.tasks) {
      expect(task.inputs).toEqual([
        { kind: 'source', node: 'table-rows', topic: 'rows', role: 'table', partitions: [0, 1, 2] },
        { kind: 'source', node: 'source-events', topic: 'events', role: 'stream', partitions: [task.partition] },
      ]);
    }
  });

  it('a task runs only what its inputs reach: a merge of a 3- and a 2-partition source loses an input in task 2', () => {
    const plan = pipeline('p', (p) => {
      const a = p.source<E>('a');
      const b = p.source<E>('b').map((e) => e);
      a.merge([b]).keyBy((e) => e.k).collect('out');
    }).plan();
    const layout = planStages(plan, { partitionsOf: partitionsOf({ a: 3, b: 2 }) });
    const task2 = layout.tasks.find((t) => t.id === '0.2')!;
    expect(task2.nodes).toEqual(['source-a', 'merge-1', 'keyBy-1']);
    const merge = buildTaskPlan(plan, layout, task2).plan.nodes.find((n) => n.name === 'merge-1')!;
    expect(merge).toMatchObject({ kind: 'merge', inputs: ['source-a'] });
    // The keyBy's reader knows exactly who writes: all three upstream tasks.
    expect(layout.tasks.find((t) => t.id === '1.0')!.inputs[0]).toMatchObject({ writers: ['0.0', '0.1', '0.2'] });
  });

  it('a stage may read the repartition topic it writes (keyed branch merged back into its own stage)', () => {
    const plan = pipeline('p', (p) => {
      const s = p.source<E>('events');
      const counts = s.keyBy((e) => e.k).window(tumbling({ sizeMs: 10 })).aggregate(count()).map((r) => ({ k: String(r.key), t: r.windowEndMs }));
      counts.merge([s]).collect('out');
    }).plan();
    const layout = planStages(plan, { partitionsOf: partitionsOf({ events: 2 }) });
    expect(layout.stages).toHaveLength(1);
    const task = layout.tasks[0]!;
    expect(task.outputs).toEqual(['keyBy-1']);
    expect(task.inputs.map((i) => i.kind)).toEqual(['source', 'repartition']);
    const nodes = buildTaskPlan(plan, layout, task).plan.nodes;
    expect(() => compile({ pipeline: 'p', nodes }, { partitionsOf: () => 1, nowMs: 0 })).not.toThrow();
  });

  it('names repartition topics after the pipeline and the keyBy, and refuses what cannot be a topic', () => {
    expect(repartitionTopic('shop', 'by customer/id')).toBe('shop.by_customer_id.repartition');
    const clash = pipeline('p', (p) => {
      p.source<E>('a').keyBy((e) => e.k, { name: 'a b' }).collect('x');
      p.source<E>('b').keyBy((e) => e.k, { name: 'a_b' }).collect('y');
    }).plan();
    expect(() => planStages(clash, { partitionsOf: () => 1 })).toThrow(/share the repartition topic/);
    const both = pipeline('p', (p) => {
      const t = p.table<E>('events');
      p.source<E>('events', { name: 'again' }).join(t, { key: (e) => e.k }, (e) => e).collect('x');
    }).plan();
    expect(() => planStages(both, { partitionsOf: () => 1 })).toThrow(/both as a stream and as a table/);
  });
});
