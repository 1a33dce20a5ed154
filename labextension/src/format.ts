/**
 * Numbers for tables: one precision per column, so a column reads down at a glance. p-values below 0.001
 * show as "< 0.001", integers as integers, probabilities to 2 decimals, never an exponent such as 1.748e-80.
 */

/** How one column's numbers are written: integers, p-values, probabilities, or a fixed number of decimals. */
export type NumberStyle =
  | { kind: 'int' }
  | { kind: 'p' }
  | { kind: 'prob' }
  | { kind: 'fixed'; decimals: number };

const MISSING = '—';
const MAX_DECIMALS = 6;
const SIGNIFICANT = 3;

/** A number in a column's style ('—' when missing; text as it is). */
export function formatNumber(value: unknown, style: NumberStyle = { kind: 'fixed', decimals: 3 }): string {
  if (value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value))) {
    return MISSING;
  }
  if (typeof value !== 'number') {
    return String(value);
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? '∞' : '−∞';
  }
  switch (style.kind) {
    case 'int':
      return String(Math.round(value));
    case 'p':
      return value < 0.001 ? '< 0.001' : value.toFixed(3);
    case 'prob':
      return value.toFixed(2);
    default: {
      const text = value.toFixed(style.decimals);
      return /^-0\.?0*$/.test(text) ? text.slice(1) : text; // no "-0.000"
    }
  }
}

/** The style of a column from its values: the decimals that give its largest value 3 significant digits. */
export function columnStyle(values: unknown[], kind?: 'int' | 'p' | 'prob'): NumberStyle {
  if (kind) {
    return { kind };
  }
  const numbers = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (numbers.length && numbers.every(Number.isInteger)) {
    return { kind: 'int' };
  }
  const largest = Math.max(0, ...numbers.map(Math.abs));
  if (largest === 0) {
    return { kind: 'fixed', decimals: SIGNIFICANT };
  }
  const decimals = SIGNIFICANT - 1 - Math.floor(Math.log10(largest));
  return { kind: 'fixed', decimals: Math.max(0, Math.min(MAX_DECIMALS, decimals)) };
}
