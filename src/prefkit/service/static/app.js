// prefkit annotation keyboard controls (no dependencies; CSP-safe: no inline script, no eval).
// Pairwise: 1 / 2 pick a response, 0 a tie (criterion by criterion); Q/W/E the strength; R the rationale box;
//   Enter submits (nothing is submitted by a choice key); in the rationale box Ctrl+Enter submits, Esc leaves.
// Ranking: a number key picks the response shown at that position, arrows move it, = ties it with the one above
//   (when ties are allowed), K keeps the shown order; a ranking is not submittable before one of these.
// Everywhere: S skips, G opens the guidelines, U takes the last answer back (while the undo button is shown).
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
  function rankValue(fs) {
    var items = fs.querySelectorAll(".ranklist > li");
    var groups = [];
    for (var i = 0; i < items.length; i++) {
      var idx = items[i].dataset.index;
      if (i > 0 && items[i].dataset.tied === "1") groups[groups.length - 1] += "=" + idx;
      else groups.push(idx);
    }
    return groups.join(",");
  }

  function paint(fs) {
    var items = fs.querySelectorAll(".ranklist > li");
    var place = 0;
    for (var i = 0; i < items.length; i++) {
      if (i === 0) items[i].dataset.tied = "";
      if (items[i].dataset.tied !== "1") place = i + 1;
      var label = items[i].querySelector(".place");
      if (!label) {
        label = document.createElement("span");
        label.className = "place";
        var bar = items[i].querySelector(".rankbar");
        bar.insertBefore(label, bar.firstChild);
      }
      label.textContent = "#" + place + (items[i].dataset.tied === "1" ? " (tie)" : "");
      items[i].classList.toggle("tied", items[i].dataset.tied === "1");
    }
  }

  // the ranking counts once the annotator touched it (a move, a tie, or K for the shown order)
  function touch(fs) {
    paint(fs);
    var hidden = fs.querySelector("input[type=hidden]");
    if (hidden) hidden.value = rankValue(fs);
    fs.classList.add("answered");
    var status = fs.querySelector(".rank-status");
    if (status) status.textContent = "Ranked. Enter submits.";
  }

  function restore(fs) {
    // after a refused submission the page comes back with the order that was sent: show it
    var hidden = fs.querySelector("input[type=hidden]");
    if (!hidden || !hidden.value) { paint(fs); return; }
    var list = fs.querySelector(".ranklist");
    var groups = hidden.value.split(",");
    for (var g = 0; g < groups.length; g++) {
      var members = groups[g].split("=");
      for (var m = 0; m < members.length; m++) {
        var li = list.querySelector('li[data-index="' + members[m] + '"]');
        if (li) { li.dataset.tied = m > 0 ? "1" : ""; list.appendChild(li); }
      }
    }
    touch(fs);
  }

  function move(fs, li, dir) {
    var list = li.parentNode;
    li.dataset.tied = "";
    if (dir < 0 && li.previousElementSibling) list.insertBefore(li, li.previousElementSibling);
    if (dir > 0 && li.nextElementSibling) list.insertBefore(li.nextElementSibling, li);
    touch(fs);
    li.focus();
  }

  function tie(fs, li) {
    if (!fs.querySelector(".ranklist").dataset.ties || !li.previousElementSibling) return;
    li.dataset.tied = li.dataset.tied === "1" ? "" : "1";
    touch(fs);
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
        restore(fs);
        fs.addEventListener("click", function (ev) {
          var btn = ev.target.closest("button");
          var li = ev.target.closest("li");
          if (!li) return;
          if (btn && btn.classList.contains("up")) move(fs, li, -1);
          else if (btn && btn.classList.contains("down")) move(fs, li, 1);
          else if (btn && btn.classList.contains("tie")) tie(fs, li);
          else select(fs, li);
        });
      })(sets[s]);
    }
  }

  function activeRankSet(form) {
    var sel = form.querySelector(".ranklist > li.selected");
    if (sel) return sel.closest("fieldset.rank");
    var sets = form.querySelectorAll("fieldset.rank");
    for (var i = 0; i < sets.length; i++) if (!sets[i].classList.contains("answered")) return sets[i];
    return sets[0] || null;
  }

  // ---- pairwise criteria ----------------------------------------------------------------------------
  function firstOpenCriterion(form) {
    var sets = form.querySelectorAll("fieldset.crit");
    for (var i = 0; i < sets.length; i++) {
      if (!sets[i].querySelector("input[type=radio]:checked")) return sets[i];
    }
    return null;
  }

  function lastChosen(form) {
    var sets = form.querySelectorAll("fieldset.crit");
    for (var i = sets.length - 1; i >= 0; i--) if (sets[i].querySelector("input[type=radio]:checked")) return sets[i];
    return null;
  }

  function pairwiseKey(form, key) {
    var sets = form.querySelectorAll("fieldset.crit");
    var fs = firstOpenCriterion(form) || sets[sets.length - 1];
    if (!fs) return false;
    var radio = fs.querySelector('input[type=radio][data-key="' + key + '"]');
    if (!radio) return false;
    radio.checked = true;
    fs.classList.add("answered");
    // no submission here: strength and rationale can still be given; Enter submits
    return true;
  }

  function strengthKey(form, k) {
    var level = { q: "1", w: "2", e: "3" }[k.toLowerCase()];
    var fs = lastChosen(form);
    var sel = fs && fs.querySelector("select");
    if (!level || !sel) return false;
    sel.value = level;
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("task-form") || document.getElementById("arena-form");
    var undo = document.getElementById("undo");
    if (!form) return;
    setupRanking(form);
    form.addEventListener("submit", function () { form.dataset.sent = "1"; });
    var shape = form.dataset.shape;
    var rationale = form.querySelector("textarea[name=rationale]");

    document.addEventListener("keydown", function (ev) {
      if (typing(ev)) {
        if (ev.target.tagName === "TEXTAREA" && ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
          ev.preventDefault();
          submit(form, form.querySelector("#submit"));
        } else if (ev.key === "Escape") {
          ev.target.blur();
        }
        return;
      }
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
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
      if ((k === "u" || k === "U") && undo) {
        ev.preventDefault();
        undo.click();
        return;
      }
      if ((k === "r" || k === "R") && rationale) {
        ev.preventDefault();
        rationale.focus();
        return;
      }
      if ((k === "s" || k === "S") && form.querySelector("#skip")) {
        ev.preventDefault();
        submit(form, form.querySelector("#skip"));
        return;
      }
      if (shape === "pairwise") {
        if (/^[0-9]$/.test(k) && pairwiseKey(form, k)) ev.preventDefault();
        else if (/^[qweQWE]$/.test(k) && strengthKey(form, k)) ev.preventDefault();
        else if (k === "Enter") {
          ev.preventDefault();
          if (ev.target && ev.target.tagName === "BUTTON") return;  // (the focused button does it)
          submit(form, form.querySelector("#submit"));
        }
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
          for (var i = 0; i < items.length; i++) {
            if (items[i].querySelector(".label kbd").textContent === k) { select(fs, items[i]); ev.preventDefault(); }
          }
        } else if ((k === "ArrowUp" || k === "ArrowDown") && sel) {
          ev.preventDefault();
          move(fs, sel, k === "ArrowUp" ? -1 : 1);
        } else if (k === "=" && sel) {
          ev.preventDefault();
          tie(fs, sel);
        } else if (k === "k" || k === "K") {
          ev.preventDefault();
          touch(fs);
        } else if (k === "Enter") {
          ev.preventDefault();
          if (ev.target && ev.target.tagName === "BUTTON") return;
          submit(form, form.querySelector("#submit"));
        }
      }
    });
  });
})();
