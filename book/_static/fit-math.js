// mappo-lite: fit wide display equations into their box instead of clipping them behind a scrollbar.
// MathJax 3 cannot break a display equation across lines, so an equation wider than its container
// (typically inside an admonition or a theorem-like block, which are narrower than the text) is scaled
// down to the container's width. Re-run when the window is resized.
// tests/book/test_browser.py checks that no mjx-container[display] and no <pre> overflows horizontally.
(function () {
  "use strict";
  function fit() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (el) {
      el.style.fontSize = "";
      var box = el.clientWidth;
      var need = el.scrollWidth;
      if (box > 0 && need > box + 1) {
        el.style.fontSize = Math.floor((100 * box) / need) - 1 + "%";
      }
    });
  }
  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    } else {
      setTimeout(whenTypeset, 100);
    }
  }
  window.addEventListener("load", whenTypeset);
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(fit, 150);
  });
})();
