/**
 * State behind the views. `RunsModel` follows the active notebook and polls the store's stamp with
 * backoff (fast right after a cell ran, slower while nothing changes, paused while the sidebar is
 * hidden); it reloads the page of runs only when the stamp changes. `Resource` is one fetched answer
 * (a comparison, a diff, a run's details). Views render these and never fetch themselves.
 */
import { Signal } from '@lumino/signaling';

import { ApiError, IRunsPage, NbtrackApi } from './api';

// The bundler inlines package.json: the version this frontend was built as, to compare with the server's.
declare const require: (module: string) => { version: string };
const VERSION = require('../package.json').version;

export const POLL_MIN_MS = 1000;
export const POLL_MAX_MS = 15000;
const POLL_ERROR_MAX_MS = 60000;

/** The notebook whose runs are shown: its path, folder (for the store), experiment name and own id. */
export interface INotebookContext {
  path: string;
  dir: string;
  experiment: string;
  /** `metadata.nbtrack.id`: ties runs to the notebook through renames and moves (null until it has one). */
  id: string | null;
}

/** Split a notebook path the way `%%track` names experiments: the file name without `.ipynb`. */
export function notebookContext(path: string, id: string | null = null): INotebookContext {
  const slash = path.lastIndexOf('/');
  const file = path.slice(slash + 1);
  return {
    path,
    dir: slash >= 0 ? path.slice(0, slash) : '',
    experiment: file.replace(/\.ipynb$/i, ''),
    id
  };
}

/**
 * Which runs: the notebook's own (by its id, whatever experiment they logged to), one experiment of the
 * store, or all of them. Written `notebook`, `all` or `experiment:<name>` (the picker's values).
 */
export type Scope = string;

/** What each notebook keeps while another one is in front: its filter, picker choice, metric, selection. */
interface INotebookState {
  scope: Scope;
  search: string;
  metric: string;
  selected: Set<string>;
}

export class RunsModel {
  readonly changed = new Signal<this, void>(this);
  readonly frontendVersion = VERSION;

  notebook: INotebookContext | null = null;
  scope: Scope = 'notebook';
  search = '';
  /** The metric the list shows (and its sparkline); empty: the server's first. */
  metric = '';
  offset = 0;
  limit = 50;

  page: IRunsPage | null = null;
  /** The server part is missing or has another version: the view says so and what to do. */
  serverProblem: { kind: 'missing' | 'version' | 'unreachable'; detail: string } | null = null;
  error: string | null = null;
  loading = false;
  selected = new Set<string>();
  /** The experiments of the notebook's own runs, as last listed (kept while the picker shows another scope). */
  ownExperiments: string[] | null = null;

  constructor(readonly api: NbtrackApi) {}

  /** The store folder the current view reads (the notebook's folder, or the server root). */
  get dir(): string {
    return this.notebook?.dir ?? '';
  }

  /** The experiment filter: the one picked, or the notebook's name for a notebook without an id yet. */
  get experiment(): string | null {
    if (this.scope.startsWith('experiment:')) {
      return this.scope.slice('experiment:'.length);
    }
    if (this.scope === 'notebook' && this.notebook && !this.notebook.id) {
      return this.notebook.experiment;
    }
    return null;
  }

  /** Whether the list mixes experiments (and so shows each run's). */
  get manyExperiments(): boolean {
    if (this.scope === 'all' || (this.scope === 'notebook' && !this.notebook)) {
      return true;
    }
    return this.scope === 'notebook' && (this.page?.notebook_experiments?.length ?? 0) > 1;
  }

  /** Follow another notebook (or the same one under a new path, or with its id just written). */
  setNotebook(path: string | null, id: string | null = null): void {
    const next = path ? notebookContext(path, id) : null;
    const before = this.notebook;
    if (next?.path === before?.path && next?.id === before?.id) {
      return;
    }
    const key = (nb: INotebookContext | null) => (nb ? (nb.id ?? nb.path) : '');
    const same = before && next && (key(before) === key(next) || (!before.id && before.path === next.path));
    if (!same) {
      // Each notebook has its own filter and selection: keep this one's, bring back the next one's.
      this._states.set(key(before), {
        scope: this.scope,
        search: this.search,
        metric: this.metric,
        selected: this.selected
      });
      const kept = this._states.get(key(next));
      this.scope = kept?.scope ?? 'notebook';
      this.search = kept?.search ?? '';
      this.metric = kept?.metric ?? '';
      this.selected = kept?.selected ?? new Set<string>();
      this.page = null;
      this.ownExperiments = null;
    } else if (before && next && before.id === null && next.id) {
      this._states.delete(key(before));
    }
    this.notebook = next;
    this.offset = 0;
    void this.refresh();
  }

  setScope(scope: Scope): void {
    this.scope = scope;
    this.offset = 0;
    void this.refresh();
  }

  setSearch(text: string): void {
    this.search = text;
    this.offset = 0;
    void this.refresh();
  }

  setMetric(metric: string): void {
    this.metric = metric;
    void this.refresh();
  }

  setOffset(offset: number): void {
    this.offset = Math.max(0, offset);
    void this.refresh();
  }

  toggle(id: string, on: boolean): void {
    if (on) {
      this.selected.add(id);
    } else {
      this.selected.delete(id);
    }
    this.changed.emit();
  }

  clearSelection(): void {
    this.selected.clear();
    this.changed.emit();
  }

  /** Check the server part once: present, and the same version as this frontend. */
  async checkServer(): Promise<boolean> {
    try {
      const info = await this.api.version();
      this.serverProblem =
        info.version === VERSION ? null : { kind: 'version', detail: info.version };
    } catch (reason) {
      const missing = reason instanceof ApiError && reason.status === 404;
      this.serverProblem = missing
        ? { kind: 'missing', detail: '' }
        : { kind: 'unreachable', detail: String((reason as Error).message ?? reason) };
    }
    this._checked = true;
    this.changed.emit();
    return this.serverProblem?.kind !== 'missing';
  }

  /** Load the current page of runs. */
  async refresh(): Promise<void> {
    if (!this._checked || this.serverProblem?.kind === 'missing') {
      return; // checkServer() first, so a missing server part reads as such, not as a failed load
    }
    const request = ++this._request;
    this.loading = true;
    this.changed.emit();
    try {
      const nb = this.notebook;
      const mine = this.scope === 'notebook' && nb?.id;
      const page = await this.api.runs(this.dir, {
        experiment: this.experiment ?? undefined,
        notebook: mine ? nb.id! : undefined,
        notebook_name: mine ? nb.experiment : undefined,
        metric: this.metric || undefined,
        q: this.search,
        offset: this.offset,
        limit: this.limit
      });
      if (request !== this._request) {
        return; // a newer request (other notebook, page or filter) is on its way
      }
      this.page = page;
      if (page.notebook_experiments) {
        this.ownExperiments = page.notebook_experiments.map(e => e.name);
      }
      this.error = null;
    } catch (reason) {
      if (request !== this._request) {
        return;
      }
      this.error = (reason as Error).message ?? String(reason);
    }
    this.loading = false;
    this.changed.emit();
  }

  /** Start or stop polling (the sidebar polls only while it is visible). */
  setActive(active: boolean): void {
    this._active = active;
    if (active) {
      this.pollSoon();
    } else {
      window.clearTimeout(this._timer);
    }
  }

  /** Something may have been written (a cell just ran): poll now and go back to the fastest rate. */
  pollSoon(delay = 0): void {
    this._interval = POLL_MIN_MS;
    this._schedule(delay);
  }

  dispose(): void {
    this._active = false;
    window.clearTimeout(this._timer);
    Signal.clearData(this);
  }

  private _schedule(delay: number): void {
    window.clearTimeout(this._timer);
    if (this._active) {
      this._timer = window.setTimeout(() => void this._poll(), delay);
    }
  }

  private async _poll(): Promise<void> {
    if (this.serverProblem?.kind === 'missing') {
      return; // nothing to poll; the view offers to check again
    }
    if (this.loading) {
      this._schedule(this._interval); // a load is on its way: it brings the news
      return;
    }
    try {
      const { stamp } = await this.api.stamp(this.dir);
      if (!this.page || stamp !== this.page.stamp || this.error) {
        await this.refresh();
        this._interval = POLL_MIN_MS;
      } else {
        this._interval = Math.min(this._interval * 1.5, POLL_MAX_MS);
      }
    } catch (reason) {
      this.error = (reason as Error).message ?? String(reason);
      this.changed.emit();
      this._interval = Math.min(this._interval * 2, POLL_ERROR_MAX_MS);
    }
    this._schedule(this._interval);
  }

  private _states = new Map<string, INotebookState>();
  private _checked = false;
  private _active = false;
  private _timer = 0;
  private _interval = POLL_MIN_MS;
  private _request = 0;
}

/** One fetched answer: loading, ready (`value`) or failed (`error`). */
export class Resource<T> {
  readonly changed = new Signal<this, void>(this);
  value: T | null = null;
  error: string | null = null;
  loading = false;

  constructor(private _fetch: () => Promise<T>) {}

  async load(fetch?: () => Promise<T>): Promise<void> {
    this._fetch = fetch ?? this._fetch;
    const request = ++this._request;
    this.loading = true;
    this.changed.emit();
    try {
      const value = await this._fetch();
      if (request === this._request) {
        this.value = value;
        this.error = null;
      }
    } catch (reason) {
      if (request === this._request) {
        this.error = (reason as Error).message ?? String(reason);
      }
    }
    if (request === this._request) {
      this.loading = false;
      this.changed.emit();
    }
  }

  private _request = 0;
}
