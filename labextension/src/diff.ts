/**
 * The diff view: what changed from run A to run B (params, metrics with their deltas, data with what changed,
 * models, outputs, environment, and the code of the cells that differ, both sources with changed lines marked).
 */
import { ICellChange, IDiff, NbtrackApi, Row } from './api';
import { formatSize, formatValue, h, table } from './dom';
import { Resource } from './model';
import { ResourceView } from './resource_view';

export class DiffView extends ResourceView<IDiff> {
  constructor(api: NbtrackApi, dir: string, a: string, b: string) {
    super(new Resource(() => api.diff(dir, a, b)));
    this.addClass('jp-nbtrack-diff');
    this.title.label = `Diff ${a.slice(-6)} → ${b.slice(-6)}`;
    this.title.caption = `nbtrack diff A=${a} B=${b}`;
    void this.resource.load();
  }

  protected renderValue(d: IDiff): Node[] {
    const out: Node[] = [h('h2', {}, 'What changed from A to B'), h('p', {}, `A = ${d.a}, B = ${d.b}`)];
    if (d.params.length) {
      const sourced = d.params.some(r => typeof r.source === 'string');
      const cells = d.params.map(r => [
        changeCell(r.change),
        String(r.name ?? ''),
        ...(sourced ? [String(r.source ?? '')] : []),
        formatValue(r.a),
        formatValue(r.b)
      ]);
      const headers = ['Change', 'Name', ...(sourced ? ['Source'] : []), 'A', 'B'];
      out.push(h('h3', {}, 'Params'), table('Params that differ', headers, cells));
    }
    if (d.metrics.length) {
      const cells = d.metrics.map(r => [
        changeCell(r.change),
        String(r.name ?? ''),
        numberCell(formatValue(r.a)),
        numberCell(formatValue(r.b)),
        numberCell(signed(r.delta)),
        numberCell(percent(r.relative))
      ]);
      const headers = [
        'Change',
        'Name',
        'A',
        'B',
        { text: 'B − A', title: "B's value minus A's" },
        { text: 'Relative', title: 'B − A as a share of |A|' }
      ];
      out.push(h('h3', {}, 'Metrics'), table('Metrics that differ, with B − A', headers, cells));
    }
    if (d.data.length) {
      const cells = d.data.map(r => [
        changeCell(r.change),
        String(r.name ?? ''),
        dataNote(r),
        h('span', { title: `A ${r.a ?? 'none'}, B ${r.b ?? 'none'}` }, `${short(r.a)} → ${short(r.b)}`)
      ]);
      const headers = ['Change', 'Input', 'What changed', 'Content hash'];
      out.push(h('h3', {}, 'Data'), table('Data inputs that differ', headers, cells));
    }
    const sides: [string, Row[], string][] = [
      ['Models', d.models ?? [], 'name'],
      ['Outputs', d.outputs ?? [], 'name'],
      ['Environment', d.env, 'what']
    ];
    for (const [title, rows, key] of sides) {
      if (rows.length) {
        const cells = rows.map(r => [
          changeCell(r.change),
          String(r[key] ?? ''),
          diffSide(title, r, 'a'),
          diffSide(title, r, 'b')
        ]);
        out.push(h('h3', {}, title), table(`${title} that differ`, ['Change', 'Name', 'A', 'B'], cells));
      }
    }
    if (d.code.length) {
      out.push(h('h3', {}, `Code (${CODE_SOURCES[d.code_source] ?? d.code_source})`));
      out.push(...d.code.map(cellChange));
    }
    if (out.length === 2) {
      out.push(h('p', {}, 'No differences.'));
    }
    return out;
  }
}

const CODE_SOURCES: Record<string, string> = {
  history: 'the cells each run executed, in order',
  cell: 'the tracked cell',
  snapshot: 'the saved notebooks'
};

/** A cell that differs: a heading saying which, then A's source beside B's, changed lines marked on each side. */
function cellChange(c: ICellChange): HTMLElement {
  const a = c.a_index === null ? null : `A[${c.a_index}]`; // as the CLI numbers cells
  const b = c.b_index === null ? null : `B[${c.b_index}]`;
  const heading =
    c.kind === 'added'
      ? `Cell ${b} added in B`
      : c.kind === 'removed'
        ? `Cell ${a} removed in B`
        : `Cell ${a} → ${b} changed`;
  let removed = c.a_removed;
  let added = c.b_added;
  if (c.kind === 'added') {
    added = added ?? lineIndexes(c.b_source);
  } else if (c.kind === 'removed') {
    removed = removed ?? lineIndexes(c.a_source);
  }
  return h(
    'section',
    { class: `jp-nbtrack-cell-change jp-nbtrack-cell-${c.kind}`, 'aria-label': heading },
    h('h4', {}, heading),
    h(
      'div',
      { class: 'jp-nbtrack-sources' },
      source('A', c.a_source, new Set(removed ?? []), 'removed'),
      source('B', c.b_source, new Set(added ?? []), 'added')
    )
  );
}

/** One side's source, one line per row; marked lines carry a class, a visible −/+ and words for screen readers. */
function source(side: string, text: string | null | undefined, marked: Set<number>, kind: 'added' | 'removed'): Node {
  if (text === null || text === undefined) {
    return h('div', { class: 'jp-nbtrack-source jp-nbtrack-source-none' }, `Not in ${side}.`);
  }
  const sign = kind === 'added' ? '+' : '−';
  const lines = text.replace(/\n$/, '').split('\n');
  const rows = lines.map((line, i) =>
    marked.has(i)
      ? h(
          'span',
          { class: `jp-nbtrack-line jp-nbtrack-line-${kind}` },
          h('span', { class: 'jp-nbtrack-line-marker', 'aria-hidden': 'true' }, sign),
          h('span', { class: 'jp-nbtrack-sr-only' }, `${kind} line: `),
          line
        )
      : h('span', { class: 'jp-nbtrack-line' }, h('span', { class: 'jp-nbtrack-line-marker' }), line)
  );
  return h(
    'figure',
    { class: 'jp-nbtrack-source' },
    h('figcaption', {}, `${side}${marked.size ? ` (${marked.size} line${marked.size === 1 ? '' : 's'} ${kind})` : ''}`),
    h('pre', { class: 'jp-nbtrack-code' }, rows)
  );
}

function lineIndexes(text: string | null | undefined): number[] {
  return text ? text.replace(/\n$/, '').split('\n').map((_, i) => i) : [];
}

/** The change as a word with its sign, so it does not rest on colour: "~ changed", "+ added", "− removed". */
function changeCell(change: unknown): HTMLElement {
  const text = String(change ?? '');
  const sign = { changed: '~', added: '+', removed: '−' }[text] ?? '';
  return h('span', { class: `jp-nbtrack-change jp-nbtrack-change-${text}` }, sign ? `${sign} ${text}` : text);
}

function numberCell(text: string): HTMLElement {
  return h('span', { class: 'jp-nbtrack-number' }, text);
}

/** A delta with its sign and 4 significant digits (`+0.05`, `−1.234e-05`); a dash when there is none. */
export function signed(value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return '—';
  }
  const text = formatValue(Math.abs(value));
  return value > 0 ? `+${text}` : value < 0 ? `−${text}` : '0';
}

/** A relative change as a signed percentage with 3 significant digits (`+12.5 %`). */
export function percent(value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return '—';
  }
  const text = String(Number((Math.abs(value) * 100).toPrecision(3)));
  return value > 0 ? `+${text} %` : value < 0 ? `−${text} %` : '0 %';
}

function short(hash: unknown): string {
  return typeof hash === 'string' ? hash.slice(0, 12) : 'none';
}

/** What changed in an input: the drift note ("debt_ratio mean +0.9 sd"), else what kind of change it is. */
function dataNote(r: Row): string {
  if (typeof r.note === 'string' && r.note) {
    return r.note;
  }
  if (r.change === 'added') {
    return 'only B reads it';
  }
  if (r.change === 'removed') {
    return 'only A reads it';
  }
  return 'content changed (no profile to say how)';
}

/** One side of a diff row: a model as class and short hash, an output file as short hash and size. */
function diffSide(title: string, r: Row, side: 'a' | 'b'): string {
  const value = r[side];
  if (title === 'Models') {
    const klass = r[`${side}_class`];
    if (value === null && !klass) {
      return '—';
    }
    const skipped = r[`${side}_skipped`];
    return `${klass ?? '?'} ${typeof value === 'string' ? value.slice(0, 12) : `not kept: ${skipped ?? ''}`}`;
  }
  if (title === 'Outputs') {
    return typeof value === 'string' ? `${value.slice(0, 12)} (${formatSize(r[`${side}_size`])})` : '—';
  }
  return formatValue(value);
}
