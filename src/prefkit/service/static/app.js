// prefkit annotation keyboard controls (no dependencies; CSP-safe: no inline script, no eval).
// Pairwise: 1 / 2 pick a response, 0 a tie; Enter submits; S skips; G opens the guidelines.
// Ranking: a number key picks the response at that position, arrows move it; Enter submits.
(function () {
  "use strict";

  function typing(ev) {
    var t = ev.target;
    return t && (t.tagName === "TEXTAREA" || t.tagName === "SELECT" || (t.tagName === "INPUT" && t.type !== "radio" && t.type !== "checkbox"));
  }

  function submit(form, button) {
    if (form.dataset.sent) return;
    form.dataset.sent = "1";
    if (button && form.requestSubmit) form.requestSubmit(button);
    else if (button) button.click();
    else if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  // ---- ranking lists --------------------------------------------------------------------------------
  function syncRank(fs) {
    var hidden = fs.querySelector("input[type=hidden]");
    var items = fs.querySelectorAll(".ranklist > li");
    var vals = [];
    for (var i = 0; i < items.length; i++) {
      vals.push(items[i].dataset.index);
      var label = items[i].querySelector(".place");
      if (!label) {
        label = document.createElement("span");
        label.className = "place";
        items[i].querySelector(".rankbar").insertBefore(label, items[i].querySelector(".rankbar").firstChild);
      }
      label.textContent = "#" + (i + 1);
    }
    if (hidden) hidden.value = vals.join(",");
  }

  function move(fs, li, dir) {
    var list = li.parentNode;
    if (dir < 0 && li.previousElementSibling) list.insertBefore(li, li.previousElementSibling);
    if (dir > 0 && li.nextElementSibling) list.insertBefore(li.nextElementSibling, li);
    syncRank(fs);
    li.focus();
  }

  function select(fs, li) {
    var all = document.querySelectorAll(".ranklist > li.selected");
    for (var i = 0; i < all.length; i++) all[i].classList.remove("selected");
    if (li) {
      li.classList.add("selected");
      li.focus();
    }
  }

  function setupRanking(form) {
    var sets = form.querySelectorAll("fieldset.rank");
    for (var s = 0; s < sets.length; s++) {
      (function (fs) {
        syncRank(fs);
        fs.addEventListener("click", function (ev) {
          var btn = ev.target.closest("button");
          var li = ev.target.closest("li");
          if (!li) return;
          if (btn && btn.classList.contains("up")) move(fs, li, -1);
          else if (btn && btn.classList.contains("down")) move(fs, li, 1);
          else select(fs, li);
        });
      })(sets[s]);
    }
  }

  function activeRankSet(form) {
    var sel = form.querySelector(".ranklist > li.selected");
    if (sel) return sel.closest("fieldset.rank");
    return form.querySelector("fieldset.rank");
  }

  // ---- pairwise criteria ----------------------------------------------------------------------------
  function firstOpenCriterion(form) {
    var sets = form.querySelectorAll("fieldset.crit");
    for (var i = 0; i < sets.length; i++) {
      if (!sets[i].querySelector("input[type=radio]:checked")) return sets[i];
    }
    return null;
  }

  function rationaleMissing(form) {
    var ta = form.querySelector("textarea[name=rationale]");
    return ta && ta.closest(".card").querySelector("label").textContent.indexOf("required") >= 0 && !ta.value.trim();
  }

  function pairwiseKey(form, key) {
    var fs = firstOpenCriterion(form) || form.querySelectorAll("fieldset.crit")[form.querySelectorAll("fieldset.crit").length - 1];
    if (!fs) return false;
    var radio = fs.querySelector('input[type=radio][data-key="' + key + '"]');
    if (!radio) return false;
    radio.checked = true;
    fs.classList.add("answered");
    if (!firstOpenCriterion(form)) {
      if (rationaleMissing(form)) form.querySelector("textarea[name=rationale]").focus();
      else submit(form, form.querySelector("#submit"));
    }
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("task-form") || document.getElementById("arena-form");
    if (!form) return;
    setupRanking(form);
    form.addEventListener("submit", function () { form.dataset.sent = "1"; });
    var shape = form.dataset.shape;

    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (typing(ev)) {
        if (ev.key === "Enter" && ev.target.tagName === "TEXTAREA" && (ev.ctrlKey || ev.metaKey)) submit(form, form.querySelector("#submit"));
        return;
      }
      var k = ev.key;
      if (k === "g" || k === "G") {
        var g = document.getElementById("guidelines");
        if (g) { g.open = !g.open; ev.preventDefault(); }
        return;
      }
      if (k === "l" || k === "L") {
        var l = document.getElementById("leaderboard-link");
        if (l) { window.location.href = l.getAttribute("href"); ev.preventDefault(); }
        return;
      }
      if ((k === "s" || k === "S") && form.querySelector("#skip")) {
        ev.preventDefault();
        submit(form, form.querySelector("#skip"));
        return;
      }
      if (shape === "pairwise") {
        if (/^[0-9]$/.test(k) && pairwiseKey(form, k)) ev.preventDefault();
        else if (k === "Enter") { ev.preventDefault(); submit(form, form.querySelector("#submit")); }
        return;
      }
      if (shape === "arena2") {
        var b = /^[0-2]$/.test(k) && form.querySelector('button[data-key="' + k + '"]');
        if (b) { ev.preventDefault(); submit(form, b); }
        return;
      }
      if (shape === "ranking" || shape === "arena") {
        var fs = activeRankSet(form);
        if (!fs) return;
        var items = fs.querySelectorAll(".ranklist > li");
        var sel = fs.querySelector(".ranklist > li.selected");
        if (/^[1-9]$/.test(k)) {
          var n = parseInt(k, 10);
          // pick the response whose label number is n (its original shown position)
          for (var i = 0; i < items.length; i++) {
            if (items[i].querySelector("kbd").textContent === k) { select(fs, items[i]); ev.preventDefault(); }
          }
          if (n > items.length) return;
        } else if ((k === "ArrowUp" || k === "ArrowDown") && sel) {
          ev.preventDefault();
          move(fs, sel, k === "ArrowUp" ? -1 : 1);
        } else if (k === "Enter") {
          ev.preventDefault();
          submit(form, form.querySelector("#submit"));
        }
      }
    });
  });
})();
