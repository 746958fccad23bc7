// phaseactors console: small enhancements only; every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Show each UTC time in the reader's own zone as a tooltip.
  for (const time of document.querySelectorAll("time[datetime]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) {
      time.title = moment.toLocaleString();
    }
  }

  // An action's review button stays disabled until a reason is written.
  for (const form of document.querySelectorAll("form.action")) {
    const reason = form.querySelector("textarea[name=reason]");
    const button = form.querySelector("button[type=submit]");
    if (!reason || !button) continue;
    const update = () => { button.disabled = reason.value.trim() === ""; };
    reason.addEventListener("input", update);
    update();
  }

  // The grid reloads itself every 30 s while the box is ticked (remembered per browser).
  const refresh = document.getElementById("auto-refresh");
  if (refresh) {
    const stored = "phaseactors.console.refresh";
    let timer = null;
    const arm = () => {
      if (timer !== null) clearTimeout(timer);
      timer = refresh.checked ? setTimeout(() => location.reload(), 30000) : null;
    };
    refresh.checked = localStorage.getItem(stored) === "1";
    refresh.addEventListener("change", () => {
      localStorage.setItem(stored, refresh.checked ? "1" : "0");
      arm();
    });
    arm();
  }
});
