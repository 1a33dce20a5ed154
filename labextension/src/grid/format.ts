/**
 * Cell text for the runs table. Numbers of one column share one format, chosen from the whole column: the
 * largest magnitude gets 4 significant digits and every value gets as many decimals (0 for a column of
 * integers), so decimal points line up when right-aligned; a column spanning < 1e-3 or >= 1e7 uses
 * exponent notation with 4 significant digits throughout.
 */
import { formatDuration, formatValue } from '../dom';
import { IGridColumn } from './data';

export type Formatter = (value: unknown) => string;

const DIGITS = 4;
const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });

export function numberFormat(values: unknown[]): Formatter {
  let max = 0;
  let integers = true;
  for (const v of values) {
    if (typeof v === 'number' && Number.isFinite(v)) {
      max = Math.max(max, Math.abs(v));
      integers = integers && Number.isInteger(v);
    }
  }
  if (integers && max < 1e15) {
    return v => (typeof v === 'number' ? String(v) : formatValue(v));
  }
  if (max !== 0 && (max < 1e-3 || max >= 1e7)) {
    return v => (typeof v === 'number' ? v.toExponential(DIGITS - 1) : formatValue(v));
  }
  const magnitude = max === 0 ? 0 : Math.floor(Math.log10(max));
  const decimals = Math.min(10, Math.max(0, DIGITS - 1 - magnitude));
  return v => (typeof v === 'number' ? v.toFixed(decimals) : formatValue(v));
}

export function formatterFor(column: IGridColumn): Formatter {
  if (column.key === 'duration') {
    return formatDuration;
  }
  if (column.type === 'time') {
    return v => (typeof v === 'number' ? TIME.format(v * 1000) : '—');
  }
  if (column.type === 'number') {
    return numberFormat(column.values);
  }
  return v => (v === null || v === undefined ? '—' : String(v));
}

/** The header text of a column: `lr` for `params.lr`, a readable name for the system columns. */
export function columnLabel(key: string): string {
  const names: Record<string, string> = {
    name: 'Run',
    status: 'Status',
    experiment: 'Experiment',
    start_time: 'Started',
    duration: 'Duration'
  };
  return names[key] ?? key.slice(key.indexOf('.') + 1);
}
