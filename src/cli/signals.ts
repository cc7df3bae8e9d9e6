/**
 * SIGINT/SIGTERM handling for long-running commands: the first signal asks the command to stop
 * cleanly (it closes what it opened and exits 0); a second one exits at once.
 */

export type ShutdownSignal = 'SIGINT' | 'SIGTERM';

/**
 * Calls `onSignal` on the first SIGINT or SIGTERM. Returns a function that removes the handlers.
 * While the handlers are installed, Node does not exit on these signals by itself.
 */
export function onShutdown(onSignal: (signal: ShutdownSignal) => void): () => void {
  let received = false;
  const handler = (signal: ShutdownSignal): void => {
    if (received) {
      process.stderr.write(`freshet: second ${signal}, exiting now\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    received = true;
    onSignal(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** A promise that resolves on the first SIGINT/SIGTERM, plus a way to stop listening. */
export function shutdownSignal(): { readonly promise: Promise<ShutdownSignal>; readonly dispose: () => void } {
  let resolve!: (s: ShutdownSignal) => void;
  const promise = new Promise<ShutdownSignal>((r) => (resolve = r));
  const dispose = onShutdown(resolve);
  return { promise, dispose };
}

/**
 * Runs `closers` last-opened first (the server stops answering before what it serves stops), every one
 * even if some fail; rethrows the first failure.
 */
export async function closeInReverse(closers: readonly (() => Promise<void>)[]): Promise<void> {
  let failure: unknown = null;
  for (const close of [...closers].reverse()) {
    try {
      await close();
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== null) throw failure;
}
