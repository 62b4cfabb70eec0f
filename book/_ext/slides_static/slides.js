// Lecture slides (book/_ext/slides.py): shrink a slide whose content is taller (or wider) than reveal.js's frame.
// The font size is lowered step by step (images are sized in em, so they shrink too) down to MIN_SCALE; a slide
// that still does not fit stays as it is, and tests/book/test_slides.py reports it (split the slide then).
(function () {
  var MIN_SCALE = 0.5;
  function fits(section, width, height) {
    return section.scrollHeight <= height + 1 && section.scrollWidth <= width + 1;
  }
  function fitAll() {
    var config = Reveal.getConfig();
    var sections = document.querySelectorAll('.reveal .slides section:not(.stack)');
    sections.forEach(function (section) {
      var hidden = section.hidden, display = section.style.display;
      section.hidden = false;
      section.style.display = 'block';
      var scale = 1;
      while (!fits(section, config.width, config.height) && scale > MIN_SCALE) {
        scale = Math.max(MIN_SCALE, scale - 0.05);
        section.style.fontSize = scale + 'em';
      }
      section.dataset.fitScale = scale.toFixed(2);
      section.hidden = hidden;
      section.style.display = display;
    });
    Reveal.layout();
    window.slidesFitted = true;
  }
  function start() {
    var typeset = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
    typeset.then(fitAll, fitAll);
  }
  if (Reveal.isReady()) { start(); } else { Reveal.on('ready', start); }
})();
