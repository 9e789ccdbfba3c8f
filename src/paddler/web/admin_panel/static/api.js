// The services the panel reads: their addresses (from the panel's /config.json), the keys the user
// signed in with (sessionStorage: gone when the tab closes, sent only as an Authorization header),
// and event streams read with fetch, which can carry that header where EventSource cannot.

const KEY_NAMES = { management: "paddler.management_key", inference: "paddler.inference_key" };
const RECONNECT_MAX_MS = 5000;
let config = null;
const authListeners = new Set();

export class AuthError extends Error {
  constructor(service, status) {
    super(status === 403 ? `That key is not a ${service} key` : `The ${service} service needs its key`);
    this.service = service;
    this.status = status;
  }
}

export async function loadConfig() {
  const response = await fetch("/config.json", { cache: "no-store" });
  config = await response.json();
  return config;
}

export function panelConfig() {
  return config;
}

// host:port a service is reached at from here.
export function reachableAddress(address) {
  const separator = address.lastIndexOf(":");
  let host = address.slice(0, separator);
  const port = address.slice(separator + 1);
  // Bound to every interface: reach it by the name this page was opened under.
  if (host === "" || host === "0.0.0.0" || host === "::" || host === "[::]") host = location.hostname;
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `${host}:${port}`;
}

export function serviceBase(address) {
  return `${location.protocol}//${reachableAddress(address)}`;
}

function baseOf(service) {
  return serviceBase(service === "management" ? config.management : config.inference);
}

export function getKey(service) {
  return sessionStorage.getItem(KEY_NAMES[service]) || "";
}

export function setKey(service, key) {
  if (key) sessionStorage.setItem(KEY_NAMES[service], key);
  else sessionStorage.removeItem(KEY_NAMES[service]);
}

export function signedIn() {
  return Boolean(getKey("management") || getKey("inference"));
}

export function onAuthNeeded(listener) {
  authListeners.add(listener);
}

function headersFor(service, extra = {}) {
  const key = getKey(service);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function checkAuth(service, response) {
  if (response.status === 401 || response.status === 403) {
    const error = new AuthError(service, response.status);
    for (const listener of authListeners) listener(error);
    throw error;
  }
}

export async function call(service, path, options = {}) {
  const response = await fetch(baseOf(service) + path, {
    ...options,
    headers: headersFor(service, options.headers),
    cache: "no-store",
  });
  checkAuth(service, response);
  return response;
}

export async function getJson(service, path, options = {}) {
  const response = await call(service, path, options);
  if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);
  return response.json();
}

export async function postJson(service, path, body, signal) {
  return call(service, path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

// Calls onLine for each complete line of a streamed body.
export async function readLines(response, onLine) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) onLine(line.replace(/\r$/, ""));
  }
  if (pending) onLine(pending);
}

function sleep(milliseconds, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// Follows a server-sent event stream until signal aborts, reconnecting (with a growing pause) whenever
// it ends: a server restart shows as "reconnecting", then "live" again. Stops for good on 401/403.
export async function follow(service, path, onData, { signal, onState = () => {} }) {
  let pause = 500;
  while (!signal.aborted) {
    try {
      const response = await call(service, path, { signal, headers: { Accept: "text/event-stream" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      onState("live");
      pause = 500;
      await readLines(response, (line) => {
        if (line.startsWith("data:")) onData(JSON.parse(line.slice(5)));
      });
    } catch (error) {
      if (error instanceof AuthError || signal.aborted) return;
    }
    if (signal.aborted) return;
    onState("reconnecting");
    await sleep(pause, signal);
    pause = Math.min(pause * 2, RECONNECT_MAX_MS);
  }
}

// Polls a JSON route every interval until signal aborts; failures are reported and retried.
export async function poll(service, path, intervalMs, onData, { signal, onState = () => {} }) {
  while (!signal.aborted) {
    try {
      onData(await getJson(service, path, { signal }));
      onState("live");
    } catch (error) {
      if (error instanceof AuthError || signal.aborted) return;
      onState("reconnecting");
    }
    await sleep(intervalMs, signal);
  }
}
