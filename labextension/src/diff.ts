/** The diff view: what changed from run A to run B (params, metrics, data, models, outputs, code). */
import { IDiff, NbtrackApi, Row } from './api';
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
    const sections: [string, Row[], string][] = [
      ['Params', d.params, 'name'],
      ['Metrics', d.metrics, 'name'],
      ['Data', d.data, 'name'],
      ['Models', d.models ?? [], 'name'],
      ['Outputs', d.outputs ?? [], 'name'],
      ['Environment', d.env, 'what']
    ];
    for (const [title, rows, key] of sections) {
      if (rows.length) {
        const sourced = title === 'Params' && rows.some(r => typeof r.source === 'string');
        const cells = rows.map(r => [
          String(r.change ?? ''),
          String(r[key] ?? ''),
          ...(sourced ? [String(r.source ?? '')] : []),
          diffSide(title, r, 'a'),
          diffSide(title, r, 'b')
        ]);
        const headers = ['Change', 'Name', ...(sourced ? ['Source'] : []), 'A', 'B'];
        out.push(h('h3', {}, title), table(`${title} that differ`, headers, cells));
      }
    }
    if (d.code.length) {
      out.push(h('h3', {}, `Code (${d.code_source})`));
      for (const change of d.code) {
        out.push(h('pre', { class: 'jp-nbtrack-code' }, change.diff.length ? change.diff.join('\n') : change.kind));
      }
    }
    if (out.length === 2) {
      out.push(h('p', {}, 'No differences.'));
    }
    return out;
  }
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

