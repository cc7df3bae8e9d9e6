import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { PipelineDefinition } from '../../plan/plan.js';

/**
 * Where a pipeline's code lives, so every worker thread can load it: plans hold user functions, which
 * cannot be sent between threads, so each thread imports the module and builds the plan itself (as every
 * Kafka Streams instance runs the same topology code).
 *
 * The export is a `pipeline(...)` definition, or a function returning one, called with `args` (which
 * must be structured-cloneable): handy for pipelines parameterised per run.
 *
 * @example
 * ```ts
 * // pipelines/revenue.ts: export default pipeline('revenue', (p) => ...)
 * const ref: PipelineModuleRef = { module: './pipelines/revenue.ts' };
 * // or a factory: export function revenue(sizeMs: number) { return pipeline(...) }
 * const factoryRef: PipelineModuleRef = { module: new URL('./pipelines.ts', import.meta.url), exportName: 'revenue', args: [60_000] };
 * ```
 */
export interface PipelineModuleRef {
  /** A file path (relative to the working directory) or a file: URL. TypeScript is compiled on the fly. */
  readonly module: string | URL;
  /** The export holding the definition or factory. Default `default`. */
  readonly exportName?: string;
  /** Arguments for a factory export. */
  readonly args?: readonly unknown[];
}

/** The module's absolute file: URL. */
export function moduleHref(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (/^file:/.test(module)) return new URL(module).href;
  return pathToFileURL(path.resolve(module)).href;
}

/** The same reference with an absolute URL: what is sent to worker threads. */
export function resolveModuleRef(ref: PipelineModuleRef): PipelineModuleRef {
  return { module: moduleHref(ref.module), ...(ref.exportName !== undefined && { exportName: ref.exportName }), ...(ref.args !== undefined && { args: ref.args }) };
}

const TS_FILE = /\.[mc]?ts$/;

/** Imports the module (TypeScript through tsx when no loader handles it) and returns the definition. */
export async function loadPipelineDefinition(ref: PipelineModuleRef): Promise<PipelineDefinition> {
  const href = moduleHref(ref.module);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(href)) as Record<string, unknown>;
  } catch (error) {
    if (!(TS_FILE.test(new URL(href).pathname) && (error as { code?: string }).code === 'ERR_UNKNOWN_FILE_EXTENSION')) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `cannot load pipeline module ${href}: ${(error as Error).message}`, { module: href }, { cause: error });
    }
    const { tsImport } = await import('tsx/esm/api');
    mod = (await tsImport(href, import.meta.url)) as Record<string, unknown>;
  }
  const exportName = ref.exportName ?? 'default';
  let value = mod[exportName];
  // A CommonJS-compiled module seen through ESM interop nests its default export once more.
  if (exportName === 'default' && value !== null && typeof value === 'object' && 'default' in value && !('plan' in value)) value = (value as { default: unknown }).default;
  if (typeof value === 'function' && !('plan' in value)) value = await (value as (...args: unknown[]) => unknown)(...(ref.args ?? []));
  if (value === null || typeof value !== 'object' || typeof (value as PipelineDefinition).plan !== 'function') {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `export '${exportName}' of ${href} is not a pipeline(name, p => ...) definition or a function returning one`, { module: href });
  }
  return value as PipelineDefinition;
}
