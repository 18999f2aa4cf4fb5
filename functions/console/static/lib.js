// The console's plumbing: DOM building (text only, never HTML from data), the public API
// under api/v1 of this origin, the API key (this tab's sessionStorage), CSV parsing.

export const API = new URL("api/v1/", document.baseURI);
const KEY_NAME = "moviedb.apiKey";

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_NAME) || "",
  set: (value) => (value ? sessionStorage.setItem(KEY_NAME, value) : sessionStorage.removeItem(KEY_NAME)),
};

/** h("p", {class: "x"}, "text", child): an element; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A status change, said by screen readers (the page's aria-live region). */
export function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const UNREACHABLE = "The service cannot be reached: check that it is running and try again.";

/** The API's own error for a failed answer: its `error.message`, whatever the status. */
function errorFromBody(status, statusText, text) {
  try {
    const error = JSON.parse(text).error;
    if (error && error.message) return new ApiError(status, error.code, error.message, error.details);
  } catch { /* not the API's error shape (a proxy, a gateway) */ }
  return new ApiError(status, `http_${status}`, `The service answered ${status} ${statusText || ""}`.trim());
}

export function apiUrl(path, params = {}) {
  const url = new URL(path, API);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

/** One API request; resolves to the parsed JSON (or the Response for `raw`), throws ApiError. */
export async function api(path, { method = "GET", params = {}, key = false, raw = false } = {}) {
  const headers = { Accept: raw ? "text/csv" : "application/json" };
  if (key && apiKey.get()) headers["X-API-Key"] = apiKey.get();
  let response;
  try {
    response = await fetch(apiUrl(path, params), { method, headers });
  } catch {
    throw new ApiError(0, "unreachable", UNREACHABLE);
  }
  if (!response.ok) throw errorFromBody(response.status, response.statusText, await response.text());
  if (raw) return response;
  try {
    return await response.json();
  } catch {
    throw new ApiError(response.status, "bad_answer", "The service's answer could not be read.");
  }
}

/** POST the file to api/v1/upload with XMLHttpRequest, for its upload progress events. */
export function sendFile(file, { review = false, onProgress = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl("upload", review ? { review: "true" } : {}));
    xhr.setRequestHeader("Accept", "application/json");
    if (apiKey.get()) xhr.setRequestHeader("X-API-Key", apiKey.get());
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve({ status: xhr.status, body: JSON.parse(xhr.responseText) });
        } catch {
          reject(new ApiError(xhr.status, "bad_answer", "The service's answer could not be read."));
        }
      } else {
        reject(errorFromBody(xhr.status, xhr.statusText, xhr.responseText));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "unreachable", UNREACHABLE)));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** RFC 4180 CSV text to rows of strings (quoted fields may hold commas, quotes, newlines). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** A value of the rejects download as it was in the file: the formula guard (a `'` put before
 * =, +, -, @, tab or CR, README "The rejects download") taken off. */
export function unguard(value) {
  return value.length > 1 && value[0] === "'" && "=+-@\t\r".includes(value[1]) ? value.slice(1) : value;
}

/** At most `limit` characters of a text response (the rest is not downloaded). */
export async function readText(response, limit) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text: text + decoder.decode(), complete: true };
    text += decoder.decode(value, { stream: true });
    if (text.length > limit) {
      await reader.cancel();
      return { text, complete: false };
    }
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function formatBytes(n) {
  if (n === null || n === undefined) return "unknown";
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
