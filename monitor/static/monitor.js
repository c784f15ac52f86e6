// Live pages: while #live says data-live="true", fetch the page's fragment every second and swap it in.
// Buttons with data-post (approve, deny, cancel) POST JSON to the app's routes, then refresh at once.
(function () {
  "use strict";
  var timer = null;
  function schedule() {
    var live = document.getElementById("live");
    if (!live || live.getAttribute("data-live") !== "true") { return; }
    clearTimeout(timer);  // one pending tick, however many refreshes end
    timer = setTimeout(refresh, 1000);
  }
  // What a person is typing survives the swap: inputs with data-keep get their value (and focus) back.
  function kept(root) {
    var values = {};
    root.querySelectorAll("input[data-keep]").forEach(function (input) {
      values[input.getAttribute("data-keep")] = input.value;
    });
    return values;
  }
  function restore(root, values, focused) {
    root.querySelectorAll("input[data-keep]").forEach(function (input) {
      var key = input.getAttribute("data-keep");
      if (values[key]) { input.value = values[key]; }
      else if (key === "by") { input.value = localStorage.getItem("monitor.by") || ""; }
      if (key === focused) { input.focus(); }
    });
  }
  function refresh() {
    clearTimeout(timer);
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url.toString(), { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var next = holder.querySelector("#live");
        var live = document.getElementById("live");
        if (next && live) {
          var active = document.activeElement;
          var focused = active && live.contains(active) ? active.getAttribute("data-keep") : null;
          var values = kept(live);
          live.replaceWith(next);
          restore(next, values, focused);
        }
      })
      .catch(function () { /* the next tick tries again */ })
      .then(schedule);
  }
  function say(text, ok) {
    var result = document.getElementById("action-result");
    if (result) {
      result.textContent = text;  // text, never HTML: messages quote model-made arguments
      result.className = ok ? "ok" : "bad";
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-post]") : null;
    if (!button) { return; }
    var question = button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { return; }
    var body = {};
    var decision = button.getAttribute("data-decision");
    if (decision) { body.decision = decision; }
    var control = button.closest(".control");
    var reason = control ? control.querySelector("input[name=reason]") : null;
    if (reason && reason.value.trim()) { body.reason = reason.value.trim(); }
    var by = document.querySelector("input[data-keep=by]");
    if (by && by.value.trim()) {
      body.by = by.value.trim();
      localStorage.setItem("monitor.by", body.by);
    }
    var what = button.getAttribute("data-what") || "";
    button.disabled = true;
    fetch(button.getAttribute("data-post"), {
      method: "POST", cache: "no-store", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (answer) {
          if (r.ok) {
            var done = answer.status === "cancelling" ? "cancelling" : answer.status + " by " + answer.decidedBy;
            say(what + ": " + done, true);
          } else {
            var error = answer.error || {};
            say(what + ": refused (" + r.status + " " + (error.code || "") + "): " + (error.message || ""), false);
          }
        });
      })
      .catch(function (problem) { say(what + ": the request failed: " + problem, false); })
      .then(function () {
        if (reason) {  // the field as it is now (a refresh may have swapped it meanwhile)
          var current = document.querySelector("input[data-keep='" + reason.getAttribute("data-keep") + "']");
          if (current) { current.value = ""; }
        }
        button.disabled = false;
        refresh();
      });
  });
  restore(document, {}, null);
  schedule();
})();
