/**
 * The runs table's calls to nbtrack's server extension (`/nbtrack/api/grid...`, nbtrack/server/grid_api.py):
 * every matching run as columns, groups with intervals, bulk tag and delete.
 */
import { ServerConnection } from '@jupyterlab/services';

import { ApiError, NbtrackApi } from '../api';

export type ColumnGroup = 'system' | 'params' | 'metrics' | 'tags' | 'data' | 'models' | 'outputs';
export type ColumnType = 'number' | 'text' | 'time';

/** One column of the runs table: its values in the order of `IGridData.ids`. */
export interface IGridColumn {
  key: string;
  group: ColumnGroup;
  type: ColumnType;
  values: unknown[];
}

export interface IGridData {
  total: number;
  ids: string[];
  columns: IGridColumn[];
  experiments: { name: string; runs: number }[];
  stamp: string;
}

export interface IGridGroup {
  key: Record<string, string>;
  n: number;
  n_scores: number;
  mean: number | null;
  ci_low: number | null;
  ci_high: number | null;
  ids: string[];
}

export interface IGridGroups {
  by: string[];
  metric: string;
  confidence: number;
  groups: IGridGroup[];
}

export interface IGridQuery {
  dir: string;
  experiment: string | null;
  where: string;
}

function query(q: IGridQuery): Record<string, string | undefined> {
  return { dir: q.dir, experiment: q.experiment ?? undefined, where: q.where || undefined };
}

export function fetchGrid(api: NbtrackApi, q: IGridQuery): Promise<IGridData> {
  return api.get('grid', query(q));
}

export function fetchGroups(api: NbtrackApi, q: IGridQuery, by: string[], metric: string): Promise<IGridGroups> {
  return api.get('grid/groups', { ...query(q), by: by.join(','), metric });
}

async function post<T>(api: NbtrackApi, path: string, dir: string, payload: unknown): Promise<T> {
  const init = { method: 'POST', body: JSON.stringify(payload) };
  const response = await ServerConnection.makeRequest(api.url(path, { dir }), init, api.settings);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, body?.code ?? 'error', body?.message ?? response.statusText);
  }
  return body as T;
}

export function tagRuns(api: NbtrackApi, dir: string, runs: string[], key: string, value: string): Promise<unknown> {
  return post(api, 'grid/tag', dir, { runs, key, value });
}

export function deleteRuns(api: NbtrackApi, dir: string, runs: string[]): Promise<unknown> {
  return post(api, 'grid/delete', dir, { runs });
}
