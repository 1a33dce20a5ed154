/**
 * Small DOM helpers. Everything that comes from the server is added as text (never as HTML), so a run
 * named `<img src=x onerror=alert(1)>` shows exactly those characters.
 */

type Child = Node | string | number | null | undefined | false;

/** Create an element with attributes (`class`, `aria-*`, ...) and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === true) {
      node.setAttribute(key, '');
    } else if (typeof value === 'string') {
      node.setAttribute(key, value);
    }
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

/** A table with a caption (read first by screen readers), column headers and rows of cells. */
export function table(
  caption: string,
  headers: (string | { text: string; title?: string })[],
  rows: Child[][],
  className = 'jp-nbtrack-table'
): HTMLTableElement {
  const head = headers.map(c => (typeof c === 'string' ? { text: c, title: undefined } : c));
  return h(
    'table',
    { class: className },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, head.map(c => h('th', { scope: 'col', title: c.title }, c.text)))),
    h('tbody', {}, rows.map(cells => h('tr', {}, cells.map(cell => h('td', {}, cell)))))
  );
}

const TAG = '__nbtrack__';

/** A stored value as short text: numbers to 4 significant digits (as nbtrack/format.py), tagged values unwrapped. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  }
  if (typeof value === 'object' && !Array.isArray(value) && TAG in (value as object)) {
    const inner = (value as Record<string, unknown>).v ?? (value as Record<string, unknown>).repr;
    return typeof inner === 'string' ? inner : JSON.stringify(inner ?? value);
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** Seconds since the epoch as local date and time. */
export function formatTime(seconds: unknown): string {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toLocaleString() : '—';
}

/** A duration in seconds as `0.52 s`, `3m 04.1s` or `2h 05m`, as nbtrack/format.py writes it. */
export function formatDuration(seconds: unknown): string {
  if (typeof seconds !== 'number' || Number.isNaN(seconds)) {
    return '—';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(2)} s`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m ${(seconds % 60).toFixed(1).padStart(4, '0')}s`;
  }
  const minutes = Math.floor((seconds % 3600) / 60);
  return `${Math.floor(seconds / 3600)}h ${String(minutes).padStart(2, '0')}m`;
}

/** A message box: `role=alert` for problems the user must act on, `status` for the rest. */
export function message(kind: 'error' | 'warning' | 'info', ...children: Child[]): HTMLElement {
  return h(
    'div',
    { class: `jp-nbtrack-message jp-nbtrack-${kind}`, role: kind === 'info' ? 'status' : 'alert' },
    ...children
  );
}

/** A byte count in decimal units (`912 B`, `1.5 KB`, `3.2 MB`), as nbtrack/format.py `size` writes it. */
export function formatSize(bytes: unknown): string {
  if (typeof bytes !== 'number' || Number.isNaN(bytes)) {
    return '?';
  }
  let amount = bytes;
  for (const unit of ['B', 'KB', 'MB']) {
    if (amount < 1000) {
      return unit === 'B' ? `${Math.round(amount)} B` : `${amount.toFixed(1)} ${unit}`;
    }
    amount /= 1000;
  }
  return `${amount.toFixed(1)} GB`;
}
