/**
 * Typed calls to nbtrack's server extension (`/nbtrack/api/`). Field names mirror the run record
 * (`Run.to_doc()` in nbtrack/run.py), which the server sends unchanged.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Where a run is (nbtrack.run.Status). */
export type Status = 'running' | 'finished' | 'failed' | 'interrupted' | 'abandoned';

/**
 * One run record, as `Run.to_doc()` writes it (nbtrack/run.py): the first fields are always there, the
 * optional ones only when the run has them. Values may be tagged objects (`{"__nbtrack__": "float", "v": "nan"}`).
 * Digests (`code_blob`, `history`, `series`, `env.packages`) name blobs in the store.
 */
export interface IRunRecord {
  id: string;
  experiment: string;
  name: string | null;
  status: Status;
  start_time: number;
  end_time: number | null;
  duration: number | null;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  tags: Record<string, unknown>;
  data: Record<string, IDataRecord>;
  error: IErrorRecord | null;
  source: string | null;
  schema: number;
  code?: string;
  code_blob?: string;
  code_location?: string;
  execution_count?: number;
  cell_id?: string;
  cell_key?: string;
  history?: string;
  history_len?: number;
  snapshot?: ISnapshotInfo;
  env?: Record<string, unknown>;
  parent?: string;
  links?: Record<string, string>;
  origin?: Record<string, unknown>;
  owner?: { pid: number; host: string; started: string | null };
  data_change?: IDataChange;
  data_notes?: Record<string, string>;
  series?: string;
  /** Where each param came from: explicit, assigned, call, config, input, framework (nbtrack.run.Run). */
  param_sources?: Record<string, string>;
  models?: Record<string, Record<string, unknown>>;
  artifacts?: Record<string, Record<string, unknown>>;
  /** Path relative to the working directory -> hash, size, kept (a blob digest, or null when only hashed). */
  outputs?: Record<string, Record<string, unknown>>;
  /** Input -> the id of the earlier run that wrote it. */
  upstream?: Record<string, string>;
}

/** Why a run failed. */
export interface IErrorRecord {
  type: string;
  message: string;
  traceback: string;
}

/** The notebook file as saved when the run ended. */
export interface ISnapshotInfo {
  path: string;
  source: string;
  blob: string;
  size: number;
  mtime: number;
  stale: boolean;
  stale_reason: string | null;
  redacted: boolean;
}

/** How the inputs differ from the previous run of the same cell. */
export interface IDataChange {
  state: 'first' | 'none' | 'changed' | 'unchanged';
  changed: string[];
  added: string[];
  removed: string[];
}

/** A data fingerprint: content hash, kind, shape, columns (and a profile). */
export interface IDataRecord {
  hash?: string;
  kind?: string;
  shape?: number[];
  columns?: { name: string; type?: string }[];
  [key: string]: unknown;
}

export interface IRunsPage {
  runs: IRunRecord[];
  total: number;
  offset: number;
  limit: number;
  /** Status as shown: a running run whose kernel is gone is `abandoned`. */
  status: Record<string, Status>;
  experiments: { name: string; runs: number }[];
  /** What a table of the matching runs shows (names without `params.`...), the most often set first. */
  columns: IRunColumns;
  stamp: string;
  /** With `notebook=<id>`: the experiments of the notebook's runs, the most runs first. */
  notebook_experiments?: { name: string; runs: number }[];
  /** How many runs match before the search text and `where`: the rest are hidden by the filter. */
  unfiltered?: number;
  /** The metric shown for each run (the one asked for, else the first), and its per-step series. */
  metric?: string | null;
  /** Run id -> that metric by step, at most 32 points (null: not a finite number). */
  sparklines?: Record<string, (number | null)[]>;
}

/** Chosen by the server (nbtrack.query.select.columns_of) over every run that matches, not just this page. */
export interface IRunColumns {
  /** Params whose value differs between the matching runs (all of them for a single run). */
  params: string[];
  /** Every metric a matching run has. */
  metrics: string[];
  /** Tags whose value differs between the matching runs. */
  tags: string[];
  /** Models whose content differs between the matching runs (all of them for a single run). */
  models?: string[];
  /** Output files whose content differs between the matching runs. */
  outputs?: string[];
}

export interface IVersion {
  name: string;
  version: string;
  api: number;
}

export interface IDrift {
  reference: string | null;
  changed: boolean | null;
  note: string;
  findings: { severity: string; column: string | null; statistic: string; message: string }[];
}

/** A model as the details list it (nbtrack.query.contents.model_rows). */
export interface IModelRow {
  name: string;
  class: string | null;
  framework: string | null;
  framework_version: string | null;
  format: string | null;
  size: number | null;
  hash: string | null;
  blob: string | null;
  pickle: boolean;
  auto: boolean;
  kept: boolean;
  skipped: string | null;
}

/** An artifact (a figure, a file, bytes); `figure` when it is shown as an image. */
export interface IArtifactRow {
  name: string;
  kind: string;
  media_type: string | null;
  size: number | null;
  blob: string | null;
  figure: boolean;
}

/** An output file the run wrote: `kept` is the blob's digest, or null when only its hash was recorded. */
export interface IOutputRow {
  path: string;
  size: number | null;
  hash: string | null;
  kept: string | null;
}

/** What the details list beside the record (nbtrack.server.api.run_contents). */
export interface IContents {
  /** Source label (explicit, inline, input, framework, other) -> param names; empty when none was recorded. */
  params_by_source: Record<string, string[]>;
  models: IModelRow[];
  artifacts: IArtifactRow[];
  outputs: IOutputRow[];
  upstream: Record<string, string>;
  downstream: Record<string, string[]>;
}

export interface IDetails {
  run: IRunRecord;
  status: Status;
  drift: Record<string, IDrift>;
  /** `reason` says why a run cannot be exported (absent from older servers: treat as available). */
  export: { available: boolean; formats: string[]; reason?: string | null };
  /** Absent from a server older than the models release. */
  contents?: IContents;
}

export type Row = Record<string, unknown>;

export interface IComparison {
  groups: Row[];
  pairs: Row[];
  warnings: string[];
  notes: string[];
  metrics: string[];
  params: string[];
  available_metrics: string[];
  plots: Record<string, string>;
  plot_errors: Record<string, string>;
  /** Vega-Lite v5 specs by kind (asked for with `charts`), the colour of each group, the runs' names. */
  charts?: Record<string, Record<string, unknown>>;
  colors?: Record<string, string>;
  run_names?: Record<string, string>;
  /** One sentence per metric, read off the pair verdicts (nbtrack/analysis/headline.py). */
  headline?: { metric: string; dataset: string | null; kind: string; group: string | null; reference: string | null; text: string }[];
  /** What each column means, per table (nbtrack/analysis/column_help.py). */
  column_help?: { groups: Record<string, string>; pairs: Record<string, string> };
  /** The group-by control: params in force, compare()'s default, the params to choose from, warnings. */
  group_by?: { by: string[]; default: string[]; options: string[]; warnings: string[] };
}

/** `GET /nbtrack/api/charts`: a Vega-Lite v5 spec and the colour of each run or group in it. */
export interface IChart {
  spec: Record<string, unknown>;
  colors: Record<string, string>;
  kind: string;
}

export interface IDiff {
  a: string;
  b: string;
  params: Row[];
  metrics: Row[];
  data: Row[];
  /** Absent from a server older than the models release. */
  models?: Row[];
  outputs?: Row[];
  env: Row[];
  code_source: string;
  code: ICellChange[];
}

/** One cell of the code diff (nbtrack.analysis.celldiff.CellChange.to_dict). */
export interface ICellChange {
  kind: string;
  a_index: number | null;
  b_index: number | null;
  a_source?: string | null;
  b_source?: string | null;
  diff: string[];
  /** 0-based lines of A not in B, and of B not in A (absent from older servers). */
  a_removed?: number[];
  b_added?: number[];
}

/** What export into the workspace wrote (nbtrack.server.export_api.finish). */
export interface IExportResult {
  /** Relative to the server root: what `docmanager:open` takes. */
  path: string;
  format: string;
  run: string;
  /** true: re-executed, it reproduced the run's metrics; false: it did not; null: not verified. */
  verified: boolean | null;
  cause: string | null;
  /** metric -> [the run's value, the script's value] */
  differences: Record<string, [unknown, unknown]>;
}

/** An answer that is not OK: HTTP status, the server's short code (`not_found`...) and its message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

export interface IRunMoreGroup {
  group: string;
  runs: number;
  new_runs: number;
  seed_param: string | null;
  seeds: unknown[];
  seconds: number | null;
}

export interface IRunMorePreview {
  groups: IRunMoreGroup[];
  runs: number;
  seconds: number | null;
  workers: number;
}

export interface IJobState {
  id: string;
  state: string;
  stop_reason: string | null;
  runs: string[];
  failed: number;
  decided: number;
  error?: string | null;
}

type Query = Record<string, string | number | string[] | undefined>;

export class NbtrackApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item !== undefined && item !== '') {
          params.append(key, String(item));
        }
      }
    }
    const search = params.toString();
    return URLExt.join(this.settings.baseUrl, 'nbtrack', 'api', path) + (search ? `?${search}` : '');
  }

  async get<T>(path: string, query: Query = {}): Promise<T> {
    // makeRequest adds the token and XSRF headers jupyter_server's auth expects.
    const response = await ServerConnection.makeRequest(this.url(path, query), {}, this.settings);
    let body: { code?: string; message?: string } | null = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, body?.code ?? 'error', body?.message ?? response.statusText);
    }
    return body as T;
  }

  version(): Promise<IVersion> {
    return this.get('version');
  }

  stamp(dir: string): Promise<{ stamp: string }> {
    return this.get('stamp', { dir });
  }

  runs(dir: string, query: Query): Promise<IRunsPage> {
    return this.get('runs', { dir, ...query });
  }

  details(dir: string, id: string): Promise<IDetails> {
    return this.get(`runs/${encodeURIComponent(id)}/details`, { dir });
  }

  compare(
    dir: string,
    runs: string[],
    metric: string,
    plots: string[],
    charts: string[] = [],
    by: string[] = []
  ): Promise<IComparison> {
    return this.get('compare', {
      dir,
      runs: runs.join(','),
      metric,
      plots: plots.join(','),
      charts: charts.join(','),
      by: by.join(',')
    });
  }

  /** A chart of runs: their comparison's (grouped), or per-step curves of one run or of ungrouped runs. */
  chart(dir: string, runs: string[], kind: string, metric: string, grouped = true): Promise<IChart> {
    return this.get('charts', { dir, runs: runs.join(','), kind, metric, grouped: grouped ? undefined : '0' });
  }

  /** What Run more would start for these runs (nothing is run): groups, new runs, seeds, estimated time. */
  runMorePreview(dir: string, runs: string[], metric: string): Promise<IRunMorePreview> {
    return this.get('run-more/preview', { dir, runs: runs.join(','), metric });
  }

  /** Start Run more in the server's process; the job's id, to follow with `job`. */
  async runMoreStart(dir: string, runs: string[], metric: string): Promise<{ job: string }> {
    const init = { method: 'POST', body: JSON.stringify({ runs, metric: metric || null }) };
    const response = await ServerConnection.makeRequest(this.url('run-more', { dir }), init, this.settings);
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, body?.code ?? 'error', body?.message ?? response.statusText);
    }
    return body as { job: string };
  }

  job(dir: string, id: string): Promise<IJobState> {
    return this.get(`jobs/${encodeURIComponent(id)}`, { dir });
  }

  diff(dir: string, a: string, b: string): Promise<IDiff> {
    return this.get('diff', { dir, a, b });
  }

  /** A model, artifact or kept output of the run, as a plain download link (the login cookie authenticates it). */
  blobUrl(dir: string, id: string, digest: string): string {
    return this.url(`runs/${encodeURIComponent(id)}/blobs/${encodeURIComponent(digest)}`, { dir });
  }

  /** The same blob fetched with the token (for an image shown in the page, whatever the login cookie). */
  async blob(dir: string, id: string, digest: string): Promise<Blob> {
    const response = await ServerConnection.makeRequest(this.blobUrl(dir, id, digest), {}, this.settings);
    if (!response.ok) {
      throw new ApiError(response.status, 'error', response.statusText);
    }
    return response.blob();
  }

  /** Export the run (verified) and write the file next to its notebook; refused (409) over an existing file. */
  async exportToWorkspace(
    dir: string,
    id: string,
    options: { format: string; name: string; overwrite: boolean }
  ): Promise<IExportResult> {
    const url = this.url(`runs/${encodeURIComponent(id)}/export-to-workspace`, { dir });
    const init = { method: 'POST', body: JSON.stringify(options) };
    const response = await ServerConnection.makeRequest(url, init, this.settings);
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, body?.code ?? 'error', body?.message ?? response.statusText);
    }
    return body as IExportResult;
  }

  /** A plain link: the browser's login cookie authenticates the download. */
  exportUrl(dir: string, id: string, format: string): string {
    return this.url(`runs/${encodeURIComponent(id)}/export`, { dir, format });
  }
}
