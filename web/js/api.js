// The dashboard's HTTP client: JSON GETs with a timeout, and a note of endpoints this server lacks.

/** Requests slower than this are abandoned (the next poll tries again). */
export const REQUEST_TIMEOUT_MS = 5000;

/** An HTTP answer that was not 2xx, with Freshet's coded error when the body has one. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET (or POST with `body`) a JSON endpoint. Rejects with ApiError on non-2xx. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  signal?.addEventListener('abort', () => controller.abort());
  try {
    const res = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const err = data?.error ?? {};
      throw new ApiError(res.status, err.code ?? `HTTP_${res.status}`, err.message ?? (text.slice(0, 200) || res.statusText));
    }
    return data;
  } finally {
    clearTimeout(timer);
  }
}

/** True for "this server has no such route" (e.g. no pipeline runs in this process). */
export function isMissingRoute(error) {
  return error instanceof ApiError && error.status === 404 && error.code === 'FRESHET_NOT_FOUND';
}
