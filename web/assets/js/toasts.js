// Short messages in the corner. At most three at a time: when many rides end together the rest
// are counted in one "and N more" message instead of covering the map.

const SHOWN_MS = 5000;
const MAX_VISIBLE = 3;

const container = document.getElementById('toasts');
let overflow = null;
let overflowCount = 0;

export function toast(text) {
  const visible = container.querySelectorAll('.toast:not(.more)').length;
  if (visible >= MAX_VISIBLE) return countOverflow();
  const el = document.createElement('div');
  el.className = 'toast';
  el.textContent = text;
  container.append(el);
  setTimeout(() => el.remove(), SHOWN_MS);
}

function countOverflow() {
  overflowCount += 1;
  if (!overflow) {
    overflow = document.createElement('div');
    overflow.className = 'toast more';
    container.append(overflow);
    setTimeout(() => {
      overflow.remove();
      overflow = null;
      overflowCount = 0;
    }, SHOWN_MS);
  }
  overflow.textContent = `…and ${overflowCount} more`;
}
