/**
 * The state of one runs table: the fetched columns, the sort keys and the row order they give, the visible
 * columns and their widths (saved per store folder and experiment in localStorage), the selection and the
 * focused cell. Sorting happens here, in the browser; filtering is the server's (`where`).
 */
import { Signal } from '@lumino/signaling';

import { NbtrackApi } from '../api';
import { ColumnGroup, IGridColumn, IGridData, IGridQuery, fetchGrid } from './data';
import { Formatter, formatterFor } from './format';

export const GROUP_ORDER: ColumnGroup[] = ['system', 'params', 'metrics', 'tags', 'data', 'models', 'outputs'];
export const DEFAULT_WIDTH = 120;
export const NAME_WIDTH = 220;
export const MIN_WIDTH = 48;
const DEFAULT_SHOWN_PER_GROUP = 8;
const STORAGE_PREFIX = 'nbtrack.grid.columns';
const SYSTEM_WIDTHS: Record<string, number> = { name: NAME_WIDTH, start_time: 170, status: 100, duration: 96 };

export interface ISortKey {
  key: string;
  descending: boolean;
}

/** What is saved per store folder and experiment: the visible columns in order, and widths. */
export interface IColumnSet {
  visible: string[];
  widths: Record<string, number>;
}

/** The localStorage key of the column set of a store folder (`''`: the server root) and experiment. */
export function storageKey(dir: string, experiment: string | null): string {
  return `${STORAGE_PREFIX}:${dir || '.'}:${experiment ?? '*'}`;
}

/** One sort key's values, ready to compare: numbers (NaN: missing) or text (null: missing). */
interface ISortArray {
  numbers: Float64Array | null;
  texts: (string | null)[] | null;
  sign: number;
}

export class GridModel {
  readonly changed = new Signal<this, void>(this);

  data: IGridData | null = null;
  columns = new Map<string, IGridColumn>();
  formatters = new Map<string, Formatter>();
  /** Row indices into `data` in display order. */
  order: number[] = [];
  sort: ISortKey[] = [];
  visible: string[] = [];
  widths: Record<string, number> = {};
  readonly selected = new Set<string>();
  anchor: number | null = null;
  focus = { row: 0, col: 0 };
  error: string | null = null;
  queryError: string | null = null;
  loading = false;
  where = '';
  private _saved: IColumnSet | null;

  constructor(
    readonly api: NbtrackApi,
    readonly dir: string,
    readonly experiment: string | null
  ) {
    this._saved = this._load();
  }

  get query(): IGridQuery {
    return { dir: this.dir, experiment: this.experiment, where: this.where };
  }

  async reload(): Promise<void> {
    this.loading = true;
    this.changed.emit();
    try {
      const data = await fetchGrid(this.api, this.query);
      this.error = null;
      this.queryError = null;
      this._setData(data);
    } catch (reason) {
      const code = (reason as { code?: string }).code;
      const text = (reason as Error).message ?? String(reason);
      if (code === 'invalid_query') {
        this.queryError = text;
      } else {
        this.error = text;
      }
    } finally {
      this.loading = false;
      this.changed.emit();
    }
  }

  setWhere(where: string): Promise<void> {
    this.where = where.trim();
    return this.reload();
  }

  private _setData(data: IGridData): void {
    this.data = data;
    this.columns = new Map(data.columns.map(c => [c.key, c]));
    this.formatters = new Map(data.columns.map(c => [c.key, formatterFor(c)]));
    this._texts.clear();
    const present = new Set(data.ids);
    for (const id of [...this.selected]) {
      if (!present.has(id)) {
        this.selected.delete(id);
      }
    }
    if (this._saved) {
      this.visible = this._saved.visible.filter(k => this.columns.has(k) || k === 'name');
      this.widths = { ...this._saved.widths };
    } else if (!this.visible.length) {
      this.visible = this._defaultColumns();
    }
    if (!this.visible.includes('name')) {
      this.visible.unshift('name');
    }
    this._sortRows();
    this.focus.row = Math.min(this.focus.row, Math.max(0, this.order.length - 1));
  }

  private _defaultColumns(): string[] {
    const keys = [...this.columns.keys()];
    const system = ['name', 'status', ...(this.experiment ? [] : ['experiment']), 'start_time', 'duration'];
    const pick = (group: ColumnGroup) => keys.filter(k => this.columns.get(k)?.group === group);
    return [
      ...system.filter(k => this.columns.has(k)),
      ...pick('params').slice(0, DEFAULT_SHOWN_PER_GROUP),
      ...pick('metrics').slice(0, DEFAULT_SHOWN_PER_GROUP)
    ];
  }

  /** Columns by chooser group, in the server's order (each group sorted by name). */
  groups(): [ColumnGroup, IGridColumn[]][] {
    return GROUP_ORDER.map(
      group => [group, (this.data?.columns ?? []).filter(c => c.group === group)] as [ColumnGroup, IGridColumn[]]
    ).filter(([, cols]) => cols.length > 0);
  }

  id(row: number): string {
    return this.data!.ids[this.order[row]];
  }

  value(key: string, row: number): unknown {
    return this.columns.get(key)?.values[this.order[row]];
  }

  /** The cell's text (formatted once per cell and kept, so scrolling back costs nothing). */
  text(key: string, row: number): string {
    const index = this.order[row];
    let texts = this._texts.get(key);
    if (!texts) {
      texts = new Array(this.data?.ids.length ?? 0);
      this._texts.set(key, texts);
    }
    let text = texts[index];
    if (text === undefined) {
      const value = this.value(key, row);
      text =
        key === 'name' && (value === null || value === undefined || value === '')
          ? this.id(row).slice(-8)
          : (this.formatters.get(key) ?? String)(value);
      texts[index] = text;
    }
    return text;
  }

  private _texts = new Map<string, string[]>();

  width(key: string): number {
    return this.widths[key] ?? SYSTEM_WIDTHS[key] ?? DEFAULT_WIDTH;
  }

  // sorting ---------------------------------------------------------------------------------------------

  /** Click: sort by this column (again: reverse it). Shift-click: add it as the next key, or reverse it there. */
  toggleSort(key: string, add: boolean): void {
    const existing = this.sort.find(s => s.key === key);
    const firstDescending = this.columns.get(key)?.type !== 'text';
    if (add) {
      if (existing) {
        existing.descending = !existing.descending;
      } else {
        this.sort.push({ key, descending: firstDescending });
      }
    } else if (existing && this.sort.length === 1) {
      existing.descending = !existing.descending;
    } else {
      this.sort = [{ key, descending: existing ? !existing.descending : firstDescending }];
    }
    this._sortRows();
    this.changed.emit();
  }

  private _sortRows(): void {
    const n = this.data?.ids.length ?? 0;
    const order = Array.from({ length: n }, (_, i) => i);
    // Each key as a plain array made once: numbers in a Float64Array (NaN: missing), text as strings.
    const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
    const keys = this.sort.flatMap((s): ISortArray[] => {
      const column = this.columns.get(s.key);
      if (!column) {
        return [];
      }
      const sign = s.descending ? -1 : 1;
      if (column.type !== 'text') {
        const numbers = Float64Array.from(column.values, v => (typeof v === 'number' ? v : NaN));
        return [{ numbers, texts: null, sign }];
      }
      const texts = column.values.map(v => (v === null || v === undefined ? null : String(v)));
      return [{ numbers: null, texts, sign }];
    });
    if (keys.length) {
      order.sort((a, b) => {
        for (const { numbers, texts, sign } of keys) {
          let c = 0;
          if (numbers) {
            const x = numbers[a];
            const y = numbers[b];
            const xMissing = x !== x;
            const yMissing = y !== y;
            if (xMissing || yMissing) {
              if (xMissing !== yMissing) {
                return xMissing ? 1 : -1; // missing last, whatever the direction
              }
              continue;
            }
            c = x - y;
          } else {
            const x = texts![a];
            const y = texts![b];
            if (x === null || y === null) {
              if ((x === null) !== (y === null)) {
                return x === null ? 1 : -1;
              }
              continue;
            }
            c = x === y ? 0 : collator.compare(x, y);
          }
          if (c !== 0) {
            return sign * c;
          }
        }
        return a - b; // stable: newest first among ties
      });
    }
    this.order = order;
  }

  sortOf(key: string): { index: number; descending: boolean } | null {
    const index = this.sort.findIndex(s => s.key === key);
    return index < 0 ? null : { index, descending: this.sort[index].descending };
  }

  // columns ---------------------------------------------------------------------------------------------

  setVisible(key: string, on: boolean): void {
    if (key === 'name') {
      return; // the pinned column stays
    }
    this.visible = this.visible.filter(k => k !== key);
    if (on) {
      this.visible.push(key);
    }
    this._save();
    this.changed.emit();
  }

  setWidth(key: string, width: number): void {
    this.widths[key] = Math.max(MIN_WIDTH, Math.min(1200, Math.round(width)));
    this._save();
    this.changed.emit();
  }

  resetColumns(): void {
    localStorage.removeItem(storageKey(this.dir, this.experiment));
    this._saved = null;
    this.widths = {};
    this.visible = this._defaultColumns();
    this.changed.emit();
  }

  private _save(): void {
    this._saved = { visible: [...this.visible], widths: { ...this.widths } };
    try {
      localStorage.setItem(storageKey(this.dir, this.experiment), JSON.stringify(this._saved));
    } catch {
      // storage full or disabled: the set lasts as long as the tab
    }
  }

  private _load(): IColumnSet | null {
    try {
      const raw = localStorage.getItem(storageKey(this.dir, this.experiment));
      const parsed = raw ? JSON.parse(raw) : null;
      if (parsed && Array.isArray(parsed.visible) && typeof parsed.widths === 'object') {
        return {
          visible: parsed.visible.filter((k: unknown) => typeof k === 'string'),
          widths: Object.fromEntries(
            Object.entries(parsed.widths ?? {}).filter(([, w]) => typeof w === 'number')
          ) as Record<string, number>
        };
      }
    } catch {
      // a damaged entry: start from the defaults
    }
    return null;
  }

  // selection -------------------------------------------------------------------------------------------

  /** Toggle one row; with `range`, set every row from the last toggled one to this one alike. */
  toggleRow(row: number, range: boolean): void {
    const id = this.id(row);
    const on = !this.selected.has(id);
    if (range && this.anchor !== null) {
      const [from, to] = this.anchor < row ? [this.anchor, row] : [row, this.anchor];
      for (let r = from; r <= to; r++) {
        if (on) {
          this.selected.add(this.id(r));
        } else {
          this.selected.delete(this.id(r));
        }
      }
    } else if (on) {
      this.selected.add(id);
    } else {
      this.selected.delete(id);
    }
    this.anchor = row;
    this.changed.emit();
  }

  /** All rows shown (the filter's), or none when all are already selected. */
  toggleAll(): void {
    const ids = this.data?.ids ?? [];
    if (ids.length && this.selected.size === ids.length) {
      this.selected.clear();
    } else {
      ids.forEach(id => this.selected.add(id));
    }
    this.anchor = null;
    this.changed.emit();
  }

  selectIds(ids: string[]): void {
    this.selected.clear();
    ids.forEach(id => this.selected.add(id));
    this.changed.emit();
  }

  /** 'all', 'some' or 'none': the header checkbox's state. */
  selectionState(): 'all' | 'some' | 'none' {
    const n = this.data?.ids.length ?? 0;
    if (this.selected.size === 0 || n === 0) {
      return 'none';
    }
    return this.selected.size >= n ? 'all' : 'some';
  }
}
