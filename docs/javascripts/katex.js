// Render the math that pymdownx.arithmatex marked up (generic mode: \( \) inline, \[ \] display),
// with the KaTeX the site serves itself (assets/katex/, see docs/hooks/katex_assets.py).
// Material for MkDocs emits document$ on every page load, instant navigation included.
(function () {
  function render(root) {
    root.querySelectorAll(".arithmatex").forEach(function (element) {
      if (element.dataset.rendered) return;
      var tex = element.textContent.trim();
      var display = element.tagName === "DIV";
      if (/^\\[(\[]/.test(tex)) tex = tex.slice(2, -2);
      else if (/^\$\$/.test(tex)) tex = tex.slice(2, -2);
      else if (/^\$/.test(tex)) tex = tex.slice(1, -1);
      katex.render(tex, element, { displayMode: display, throwOnError: false, strict: false });
      element.dataset.rendered = "true";
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function () { render(document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { render(document.body); });
  }
})();
