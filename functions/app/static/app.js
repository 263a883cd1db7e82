// The list builder's enhancements: each condition row offers only the comparisons its field
// takes, and the count updates as the list is edited. Without this script the page still works:
// the Count button posts the form and the server answers with the count.
"use strict";

(function () {
  const form = document.getElementById("builder");
  if (!form || !document.getElementById("rows")) {
    return;
  }

  // Shows the comparisons that apply to the row's field, and the value boxes the comparison needs.
  // A new field of another kind starts at its first comparison (text "is", a date "is before").
  function fitRow(row, fieldChanged) {
    const field = row.querySelector('[data-role="field"]');
    const op = row.querySelector('[data-role="op"]');
    const value = row.querySelector('[data-role="value"]');
    const upper = row.querySelector('[data-role="value2"]');
    const chosen = field.selectedOptions[0];
    const kind = chosen ? chosen.dataset.kind : undefined;
    for (const option of op.options) {
      option.hidden = Boolean(kind) && !option.dataset.kinds.split(" ").includes(kind);
    }
    const kindChanged = fieldChanged && row.dataset.kind !== kind;
    row.dataset.kind = kind || "";
    if (kindChanged || (op.selectedOptions[0] && op.selectedOptions[0].hidden)) {
      const first = Array.from(op.options).find((option) => !option.hidden);
      if (first) {
        op.value = first.value;
      }
    }
    const unary = ["is_empty", "not_empty", "is_true", "is_false"].includes(op.value);
    value.hidden = unary;
    upper.hidden = unary || op.value !== "between";
    if (document.getElementById("values-" + field.value)) {
      value.setAttribute("list", "values-" + field.value);
    } else {
      value.removeAttribute("list");
    }
  }

  const count = document.getElementById("count");
  const hint = document.getElementById("count-hint");
  const excluded = document.getElementById("excluded");
  const sample = document.getElementById("sample");
  const sampleTable = document.getElementById("sample-table");

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text || "";
    return td;
  }

  function show(answer) {
    count.textContent = String(answer.count);
    excluded.replaceChildren(
      ...answer.excluded_reasons.map((each) => {
        const item = document.createElement("li");
        item.textContent = each.count + " left out: " + each.reason;
        return item;
      }),
    );
    sample.replaceChildren(
      ...answer.sample.map((member) => {
        const row = document.createElement("tr");
        const name = [member.first_name, member.last_name].filter(Boolean).join(" ");
        const company = cell(member.company);
        company.className = "hide-narrow";
        row.append(cell(name), cell(member.email), company);
        return row;
      }),
    );
    sampleTable.hidden = answer.sample.length === 0;
  }

  function showProblem(message) {
    count.textContent = "–";
    const item = document.createElement("li");
    item.className = "error";
    item.setAttribute("role", "alert");
    item.textContent = message;
    excluded.replaceChildren(item);
    sampleTable.hidden = true;
  }

  let timer;
  let latest = 0;
  let inFlight;

  // Counts the list as it now stands; an answer to an older request is dropped.
  async function recount() {
    const asked = ++latest;
    if (inFlight) {
      inFlight.abort();
    }
    inFlight = new AbortController();
    const body = new URLSearchParams(new FormData(form));
    body.set("action", "count");
    try {
      const response = await fetch("/app/lists/preview", {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: inFlight.signal,
      });
      const answer = await response.json();
      if (asked !== latest) {
        return;
      }
      if (hint) {
        hint.hidden = true;
      }
      if (response.ok) {
        show(answer);
      } else {
        showProblem(answer.error ? answer.error.message : "The count is unavailable.");
      }
    } catch (error) {
      if (error.name !== "AbortError" && asked === latest) {
        showProblem("The count is unavailable: check your connection.");
      }
    }
  }

  function scheduleRecount() {
    clearTimeout(timer);
    timer = setTimeout(recount, 300);
  }

  for (const row of form.querySelectorAll("[data-row]")) {
    fitRow(row, false);
  }
  form.addEventListener("change", (event) => {
    const row = event.target.closest("[data-row]");
    if (row) {
      fitRow(row, event.target.dataset.role === "field");
    }
    scheduleRecount();
  });
  form.addEventListener("input", scheduleRecount);
  recount();
})();
