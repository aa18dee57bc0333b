// A few keyboard shortcuts, "select all", and YouTube/Vimeo players on request; every action
// also works without this file.
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
  // A hosted video's player is loaded only on a click: opening an item tells YouTube nothing.
  document.querySelectorAll("button[data-embed]").forEach((button) => {
    button.addEventListener("click", () => {
      const frame = document.createElement("iframe");
      frame.src = button.dataset.embed;  // built by the server from a checked id only
      frame.allow = "autoplay; encrypted-media; fullscreen; picture-in-picture";
      frame.allowFullscreen = true;
      frame.referrerPolicy = "strict-origin-when-cross-origin";  // YouTube's player wants it
      frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-presentation");
      frame.title = button.textContent.trim();
      button.replaceWith(frame);
    });
  });
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
