// Evidence links end in #section-id; Dash renders the page after the browser tried to scroll there, so
// scroll once the element exists (for up to 10 s after each navigation).
(function () {
  var lastHref = null;
  function tryScroll(deadline) {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (!id) { return; }
    var el = document.getElementById(id);
    if (el) { el.scrollIntoView({block: "start"}); return; }
    if (Date.now() < deadline) { window.setTimeout(function () { tryScroll(deadline); }, 100); }
  }
  window.setInterval(function () {
    if (window.location.href !== lastHref) {
      lastHref = window.location.href;
      tryScroll(Date.now() + 10000);
    }
  }, 200);
})();
