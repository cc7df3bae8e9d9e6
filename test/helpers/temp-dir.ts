import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A fresh, empty directory under the OS temp dir. Pair with `removeTempDir`. */
export function makeTempDir(prefix = 'freshet-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Removes a directory made by `makeTempDir` (recursively; missing is fine). */
export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Tracks temp dirs made during a test so one `afterEach(() => dirs.cleanup())` removes them all.
 */
export class TempDirs {
  private readonly dirs: string[] = [];

  make(prefix?: string): string {
    const dir = makeTempDir(prefix);
    this.dirs.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.dirs.splice(0)) removeTempDir(dir);
  }
}
