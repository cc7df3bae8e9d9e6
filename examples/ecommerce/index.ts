/**
 * The e-commerce demo in one module, so `freshet demo` loads it (and everything it imports) once: the
 * pipeline, the event generator and the producer feeding it, the views it writes and its alert rules.
 */
export { default as pipeline, ShopViews, WINDOW_MS } from './pipeline.js';
export { ShopGenerator, ShopTopics, STREAM_TOPICS, GeneratorLimits, REGIONS } from './generator.js';
export { ShopProducer, DEMO_RETENTION_MS, type ShopProducerOptions } from './producer.js';
export { demoAlertRules } from './alerts.js';
