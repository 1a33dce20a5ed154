/**
 * The grid itself (role=grid): a sticky header row (sort buttons with aria-sort, resize handles, the
 * select-all checkbox) and a virtualized body: only the rows in view (plus a few) are in the DOM, placed
 * absolutely inside a spacer as tall as all rows, refilled on scroll. The select column and the run name are
 * pinned: they move with horizontal scrolling by a transform (per-cell position: sticky cost half the frame rate). Keyboard: a roving tabindex over the body cells; arrows, Home/End and
 * PageUp/PageDown move, Space selects (Shift+Space a range), Enter opens the run's details.
 */
import { h } from '../dom';
import { columnLabel } from './format';
import { GridModel } from './model';

export const ROW_HEIGHT = 28;
export const SELECT_WIDTH = 36;
const OVERSCAN = 6;
const RESIZE_STEP = 16;

export interface ITableActions {
  openDetails(id: string): void;
}

export class GridTable {
  readonly node: HTMLDivElement;

  constructor(
    private _model: GridModel,
    private _actions: ITableActions
  ) {
    this.node = h('div', {
      class: 'jp-nbtrack-grid',
      role: 'grid',
      'aria-multiselectable': 'true',
      'aria-label': 'Runs'
    });
    this.node.append(this._head, this._body);
    this.node.addEventListener('scroll', () => this._onScroll(), { passive: true });
    this._body.addEventListener('keydown', event => this._onKey(event));
    this._body.addEventListener('click', event => this._onClick(event));
    this._body.addEventListener('focusin', event => this._onFocus(event));
  }

  private _onScroll(): void {
    // The pinned cells follow horizontal scrolling through one variable (a transform): sticky cells in every
    // row halved the frame rate of vertical scrolling.
    const left = this.node.scrollLeft;
    if (left !== this._left) {
      this._left = left;
      this.node.style.setProperty('--nbtrack-grid-left', `${left}px`);
    }
    this._renderRows(false);
  }

  private _left = 0;

  /** Rebuild the header and the rows in view (after data, columns, sort or selection changed). */
  render(): void {
    const model = this._model;
    const n = model.order.length;
    this.node.setAttribute('aria-rowcount', String(n + 1));
    this.node.setAttribute('aria-colcount', String(model.visible.length + 1));
    const width = SELECT_WIDTH + model.visible.reduce((sum, k) => sum + model.width(k), 0);
    this._head.style.width = `${width}px`;
    this._body.style.width = `${width}px`;
    this._body.style.height = `${n * ROW_HEIGHT}px`;
    this._renderHead();
    this._renderRows(true);
  }

  private _renderHead(): void {
    const model = this._model;
    const all = h('input', { type: 'checkbox', 'aria-label': 'Select all runs shown' });
    const state = model.selectionState();
    all.checked = state === 'all';
    all.indeterminate = state === 'some';
    all.addEventListener('click', () => model.toggleAll());
    const cells: HTMLElement[] = [
      h('div', { class: 'jp-nbtrack-grid-cell jp-nbtrack-grid-select', role: 'columnheader', 'aria-colindex': '1' }, all)
    ];
    model.visible.forEach((key, i) => {
      const column = model.columns.get(key);
      const sort = model.sortOf(key);
      const label = columnLabel(key);
      const arrow = sort ? (sort.descending ? ' ▼' : ' ▲') + (model.sort.length > 1 ? String(sort.index + 1) : '') : '';
      const button = h(
        'button',
        {
          type: 'button',
          class: 'jp-nbtrack-grid-sort',
          title: `${key}: click to sort, Shift+click to add as a further sort key`
        },
        h('span', { class: 'jp-nbtrack-grid-label' }, label),
        arrow ? h('span', { class: 'jp-nbtrack-grid-arrow', 'aria-hidden': 'true' }, arrow) : null
      );
      button.addEventListener('click', event => model.toggleSort(key, event.shiftKey));
      const handle = this._resizeHandle(key, label);
      const classes = ['jp-nbtrack-grid-cell', 'jp-nbtrack-grid-header'];
      if (key === 'name') {
        classes.push('jp-nbtrack-grid-pinned');
      }
      if (column?.type === 'number' || key === 'duration') {
        classes.push('jp-nbtrack-grid-number');
      }
      const cell = h(
        'div',
        {
          class: classes.join(' '),
          role: 'columnheader',
          'aria-colindex': String(i + 2),
          'aria-sort': sort && sort.index === 0 ? (sort.descending ? 'descending' : 'ascending') : 'none',
          'data-key': key
        },
        button,
        handle
      );
      cell.style.width = `${model.width(key)}px`;
      cells.push(cell);
    });
    this._head.replaceChildren(...cells);
  }

  private _resizeHandle(key: string, label: string): HTMLElement {
    const model = this._model;
    const handle = h('div', {
      class: 'jp-nbtrack-grid-resize',
      role: 'separator',
      tabindex: '0',
      'aria-orientation': 'vertical',
      'aria-label': `Resize column ${label} (Left and Right arrow keys)`,
      'aria-valuenow': String(model.width(key)),
      'aria-valuemin': '48',
      'aria-valuemax': '1200'
    });
    handle.addEventListener('pointerdown', event => {
      event.preventDefault();
      const startX = event.clientX;
      const startWidth = model.width(key);
      const cell = handle.parentElement as HTMLElement;
      handle.setPointerCapture(event.pointerId);
      const move = (e: PointerEvent) => {
        cell.style.width = `${Math.max(48, startWidth + e.clientX - startX)}px`;
      };
      const up = (e: PointerEvent) => {
        handle.removeEventListener('pointermove', move);
        handle.removeEventListener('pointerup', up);
        model.setWidth(key, startWidth + e.clientX - startX);
      };
      handle.addEventListener('pointermove', move);
      handle.addEventListener('pointerup', up);
    });
    handle.addEventListener('keydown', event => {
      const step = event.key === 'ArrowRight' ? RESIZE_STEP : event.key === 'ArrowLeft' ? -RESIZE_STEP : 0;
      if (step) {
        event.preventDefault();
        model.setWidth(key, model.width(key) + step);
        this._head.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"] .jp-nbtrack-grid-resize`)?.focus();
      }
    });
    return handle;
  }

  private _range(): [number, number] {
    const n = this._model.order.length;
    const top = Math.max(0, this.node.scrollTop - this._head.offsetHeight);
    const height = this.node.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(n, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    return [first, last];
  }

  private _renderRows(force: boolean): void {
    const [first, last] = this._range();
    if (!force && first === this._shown[0] && last === this._shown[1]) {
      return;
    }
    this._shown = [first, last];
    const keepFocus = this._body.contains(document.activeElement);
    if (force) {
      // columns, sort or selection changed: new row shapes for the rows in view
      this._rows.clear();
      const rows: HTMLElement[] = [];
      for (let r = first; r < last; r++) {
        const row = this._makeRow();
        this._fill(row, r);
        this._rows.set(r, row);
        rows.push(row);
      }
      this._body.replaceChildren(...rows);
    } else {
      // scrolling: the rows that left the view are refilled as the rows entering it (no new elements)
      const free: HTMLElement[] = [];
      for (const [r, row] of this._rows) {
        if (r < first || r >= last) {
          free.push(row);
          this._rows.delete(r);
        }
      }
      const fresh: HTMLElement[] = [];
      for (let r = first; r < last; r++) {
        if (!this._rows.has(r)) {
          let row = free.pop();
          if (!row) {
            row = this._makeRow();
            fresh.push(row);
          }
          this._fill(row, r);
          this._rows.set(r, row);
        }
      }
      free.forEach(row => row.remove());
      if (fresh.length) {
        this._body.append(...fresh);
      }
    }
    if (keepFocus) {
      this._focusCell();
    }
  }

  /** An empty row of the current columns: the select cell, then one cell per visible column. */
  private _makeRow(): HTMLElement {
    const model = this._model;
    const row = h('div', { class: 'jp-nbtrack-grid-row', role: 'row' });
    const box = h('input', { type: 'checkbox', tabindex: '-1' });
    row.append(h('div', { class: 'jp-nbtrack-grid-cell jp-nbtrack-grid-select', role: 'gridcell', 'aria-colindex': '1', 'data-col': '0' }, box));
    model.visible.forEach((key, i) => {
      const column = model.columns.get(key);
      const classes = ['jp-nbtrack-grid-cell'];
      if (key === 'name') {
        classes.push('jp-nbtrack-grid-pinned', 'jp-nbtrack-grid-name');
      }
      if (column?.type === 'number' || key === 'duration') {
        classes.push('jp-nbtrack-grid-number');
      }
      const cell = h('div', { class: classes.join(' '), role: 'gridcell', 'aria-colindex': String(i + 2), 'data-col': String(i + 1) });
      if (key === 'status') {
        cell.append(h('span', { class: 'jp-nbtrack-badge' }));
      }
      cell.style.width = `${model.width(key)}px`;
      row.append(cell);
    });
    return row;
  }

  /** Show row `r` (in display order) in a row element made by `_makeRow`. */
  private _fill(row: HTMLElement, r: number): void {
    const model = this._model;
    const id = model.id(r);
    const selected = model.selected.has(id);
    const focus = model.focus;
    row.className = `jp-nbtrack-grid-row${selected ? ' jp-mod-selected' : ''}${r % 2 ? ' jp-nbtrack-grid-odd' : ''}${focus.row === r ? ' jp-mod-focused' : ''}`;
    row.setAttribute('aria-rowindex', String(r + 2));
    row.setAttribute('aria-selected', selected ? 'true' : 'false');
    row.dataset.runId = id;
    row.dataset.row = String(r);
    row.style.transform = `translateY(${r * ROW_HEIGHT}px)`;
    const cells = row.children;
    const label = model.text('name', r);
    const box = cells[0].firstChild as HTMLInputElement;
    box.checked = selected;
    box.setAttribute('aria-label', `Select run ${label}`);
    cells[0].setAttribute('tabindex', focus.row === r && focus.col === 0 ? '0' : '-1');
    model.visible.forEach((key, i) => {
      const cell = cells[i + 1] as HTMLElement;
      const text = model.text(key, r);
      if (key === 'status') {
        const badge = cell.firstChild as HTMLElement;
        badge.className = `jp-nbtrack-badge jp-nbtrack-status-${text}`;
        badge.textContent = text;
      } else {
        cell.textContent = text;
      }
      cell.title = key === 'name' ? `${text} (${id}): Enter or click opens its details` : text;
      cell.setAttribute('tabindex', focus.row === r && focus.col === i + 1 ? '0' : '-1');
    });
  }

  /** Clicks and focus in the body, delegated: the select boxes, the run names, the focused cell. */
  private _onClick(event: MouseEvent): void {
    const target = event.target as HTMLElement;
    const row = target.closest<HTMLElement>('.jp-nbtrack-grid-row');
    const cell = target.closest<HTMLElement>('.jp-nbtrack-grid-cell');
    if (!row || !cell) {
      return;
    }
    const r = Number(row.dataset.row);
    if (target instanceof HTMLInputElement) {
      event.preventDefault();
      this._model.focus = { row: r, col: 0 };
      this._model.toggleRow(r, event.shiftKey);
    } else if (cell.classList.contains('jp-nbtrack-grid-name')) {
      this._actions.openDetails(row.dataset.runId ?? '');
    }
  }

  private _onFocus(event: FocusEvent): void {
    const cell = (event.target as HTMLElement).closest<HTMLElement>('.jp-nbtrack-grid-cell');
    const row = cell?.closest<HTMLElement>('.jp-nbtrack-grid-row');
    if (cell && row) {
      this._model.focus = { row: Number(row.dataset.row), col: Number(cell.dataset.col) };
    }
  }

  private _onKey(event: KeyboardEvent): void {
    const model = this._model;
    const n = model.order.length;
    const cols = model.visible.length + 1;
    if (!n) {
      return;
    }
    let { row, col } = model.focus;
    const page = Math.max(1, Math.floor(this.node.clientHeight / ROW_HEIGHT) - 1);
    switch (event.key) {
      case 'ArrowDown':
        row = Math.min(n - 1, row + 1);
        break;
      case 'ArrowUp':
        row = Math.max(0, row - 1);
        break;
      case 'ArrowRight':
        col = Math.min(cols - 1, col + 1);
        break;
      case 'ArrowLeft':
        col = Math.max(0, col - 1);
        break;
      case 'PageDown':
        row = Math.min(n - 1, row + page);
        break;
      case 'PageUp':
        row = Math.max(0, row - page);
        break;
      case 'Home':
        col = 0;
        row = event.ctrlKey ? 0 : row;
        break;
      case 'End':
        col = cols - 1;
        row = event.ctrlKey ? n - 1 : row;
        break;
      case ' ':
        event.preventDefault();
        model.toggleRow(row, event.shiftKey);
        this._focusCell();
        return;
      case 'Enter':
        event.preventDefault();
        this._actions.openDetails(model.id(row));
        return;
      default:
        return;
    }
    event.preventDefault();
    model.focus = { row, col };
    this._scrollTo(row);
    this._renderRows(true);
    this._focusCell();
  }

  /** Scroll so row `r` is in view (below the sticky header). */
  private _scrollTo(r: number): void {
    const head = this._head.offsetHeight;
    const top = r * ROW_HEIGHT;
    const view = this.node.clientHeight - head;
    if (top < this.node.scrollTop) {
      this.node.scrollTop = top;
    } else if (top + ROW_HEIGHT > this.node.scrollTop + view) {
      this.node.scrollTop = top + ROW_HEIGHT - view;
    }
  }

  private _focusCell(): void {
    const { row, col } = this._model.focus;
    this._body.querySelectorAll<HTMLElement>('[tabindex="0"]').forEach(el => el.setAttribute('tabindex', '-1'));
    const cell = this._rows.get(row)?.querySelector<HTMLElement>(`[data-col="${col}"]`);
    if (cell) {
      cell.setAttribute('tabindex', '0');
      cell.focus({ preventScroll: true });
      this._body.querySelectorAll('.jp-mod-focused').forEach(el => el.classList.remove('jp-mod-focused'));
      cell.parentElement?.classList.add('jp-mod-focused');
    }
  }

  private _shown: [number, number] = [-1, -1];
  private _rows = new Map<number, HTMLElement>();
  private _head = h('div', { class: 'jp-nbtrack-grid-row jp-nbtrack-grid-head', role: 'row', 'aria-rowindex': '1' });
  private _body = h('div', { class: 'jp-nbtrack-grid-body', role: 'rowgroup' });
}
