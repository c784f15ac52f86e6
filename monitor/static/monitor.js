// Live pages: while #live says data-live="true", fetch the page's fragment every second and swap it in.
(function () {
  "use strict";
  function schedule() {
    var live = document.getElementById("live");
    if (!live || live.getAttribute("data-live") !== "true") { return; }
    setTimeout(refresh, 1000);
  }
  function refresh() {
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url.toString(), { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var next = holder.querySelector("#live");
        var live = document.getElementById("live");
        if (next && live) { live.replaceWith(next); }
      })
      .catch(function () { /* the next tick tries again */ })
      .then(schedule);
  }
  schedule();
})();
