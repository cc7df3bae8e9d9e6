import fs from 'node:fs';
import path from 'node:path';

/**
 * Replaces `file` atomically: write a temp file, fsync it, rename over the target, fsync the
 * directory. A crash leaves either the old content or the new, never a mix.
 */
export function writeFileAtomicSync(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDirSync(path.dirname(file));
}

/** Makes a directory entry change (create, rename, unlink) durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** mkdir -p, then fsync each directory that was created and its parent. */
export function mkdirDurableSync(dir: string): void {
  const created = fs.mkdirSync(dir, { recursive: true });
  if (created === undefined) return;
  let d = dir;
  const toSync: string[] = [];
  while (d.length >= created.length) {
    toSync.push(d);
    d = path.dirname(d);
  }
  toSync.push(path.dirname(created));
  for (const x of toSync) fsyncDirSync(x);
}

/** Removes leftovers of interrupted atomic writes. */
export function removeTempFilesSync(dir: string): void {
  for (const name of fs.readdirSync(dir)) if (name.includes('.tmp-')) fs.rmSync(path.join(dir, name), { force: true });
}
