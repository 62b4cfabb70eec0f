// Lecture slides (book/_ext/slides.py): wait for the images and MathJax, shrink every slide whose content is
// taller or wider than the frame (CSS zoom on its body, at most down to minScale), then start reveal.js.
// A slide that still does not fit keeps data-fit-scale = minScale, and tests/book/test_slides.py reports it.
(function () {
  var config = window.SLIDES_CONFIG;
  function fitOne(section) {
    var body = section.querySelector('.slide-body');
    if (!body) { section.dataset.fitScale = '1.00'; return; }
    var display = section.style.display;
    section.style.display = 'block';
    section.style.width = config.width + 'px';
    var header = section.querySelector('h2');
    var room = config.height - (header ? header.offsetHeight + 24 : 0);
    // a display equation wider than the slide is scaled down by itself first (as the book's fit-math.js does)
    body.querySelectorAll('mjx-container[display], pre').forEach(function (el) {
      for (var i = 0; i < 4 && el.scrollWidth > el.clientWidth + 1; i++) {
        el.style.zoom = (parseFloat(el.style.zoom || '1') * el.clientWidth / el.scrollWidth * 0.99).toFixed(3);
      }
    });
    var scale = 1;
    body.style.zoom = '';
    for (var i = 0; i < 12; i++) {
      var tall = body.scrollHeight * scale, wide = body.scrollWidth * scale;
      if (tall <= room + 1 && wide <= config.width + 1) break;
      var next = Math.max(config.minScale, Math.min(scale * room / tall, scale * config.width / wide, scale - 0.02));
      if (next >= scale) break;
      scale = next;
      body.style.zoom = scale;
    }
    section.dataset.fitScale = scale.toFixed(3);
    section.style.display = display;
    section.style.width = '';
  }
  function start() {
    document.querySelectorAll('.reveal .slides > section').forEach(fitOne);
    var print = /print-pdf/i.test(window.location.search);
    // the print view lays its pages out after 'ready': wait for 'pdf-ready' there
    if (print) Reveal.on('pdf-ready', function () { window.slidesReady = true; });
    Reveal.initialize(Object.assign({}, config, {plugins: []})).then(function () {
      if (!print) window.slidesReady = true;
    });
  }
  window.addEventListener('load', function () {
    var typeset = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
    typeset.then(start, start);
  });
})();
