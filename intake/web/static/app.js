// A few keyboard shortcuts and "select all"; every action also works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // The queue's filters are folded on phones (the summary opens them); wide screens show them.
  const filters = document.getElementById("filters");
  if (filters && window.matchMedia("(min-width: 641px)").matches) filters.open = true;
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll('#bulk input[name="id"]').forEach((box) => { box.checked = all.checked; });
    });
  }
});

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target.closest && target.closest("input, select, textarea, [contenteditable]")) return;
  const search = document.getElementById("brief-search");
  if (event.key === "/" && search) { event.preventDefault(); search.focus(); }
  else if (event.key === "n") { const next = document.querySelector('[accesskey="n"]'); if (next) next.click(); }
  else if (event.key === "g") { const guess = document.querySelector('[accesskey="g"]'); if (guess) guess.focus(); }
});
