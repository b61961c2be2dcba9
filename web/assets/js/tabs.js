// An ARIA tab list: click or arrow keys switch panels; `onShow(panelId)` after each switch.

export function tabs(list, onShow) {
  const all = [...list.querySelectorAll('[role=tab]')];
  const show = (tab) => {
    for (const other of all) {
      const selected = other === tab;
      other.setAttribute('aria-selected', selected);
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute('aria-controls')).hidden = !selected;
    }
    onShow(tab.getAttribute('aria-controls'));
  };
  for (const tab of all) tab.addEventListener('click', () => show(tab));
  list.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = all[(all.indexOf(document.activeElement) + step + all.length) % all.length];
    next.focus();
    show(next);
  });
  return (panelId) => show(all.find((tab) => tab.getAttribute('aria-controls') === panelId));
}
