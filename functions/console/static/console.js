// The moviedb console: one page, its views chosen by the query string (?view=catalogue&q=...),
// so every view and its filters can be bookmarked. Only the public API is used.
import {
  ApiError, announce, api, apiKey, apiUrl, formatBytes, formatTime, h, parseCsv, readText,
  sendFile, sleep, unguard,
} from "./lib.js";

const COUNTS = ["received", "inserted", "updated", "unchanged", "rejected"];
const STATUSES = ["pending", "processing", "validated", "publishing", "completed", "failed", "cancelled", "reverted"];
const RUNNING = new Set(["pending", "processing", "publishing"]);
const MOVIE_FILTERS = ["q", "release_year", "year_from", "year_to", "language", "spoken_language",
  "genre_id", "min_votes", "sort_by", "sort_order", "page_size", "cursor"];
const REJECTS_SHOWN_CHARS = 512 * 1024;

const main = document.getElementById("main");
const params = new URLSearchParams(location.search);

// --- shared pieces ----------------------------------------------------------------------------

function viewUrl(view, values = {}) {
  const search = new URLSearchParams({ view });
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  return `?${search}`;
}

function errorBox() {
  return h("div", { class: "error", role: "alert" });
}

function showError(box, error) {
  box.textContent = error instanceof ApiError ? error.message : `Something went wrong: ${error}`;
  if (error instanceof ApiError && error.code === "revert_conflict" && error.details?.later_uploads) {
    box.append(" ", h("span", {}, "Later uploads: ",
      error.details.later_uploads.map((id, i) => [i ? ", " : "", h("a", { href: viewUrl("detail", { id }) }, id)])));
  }
  announce(box.textContent);
}

function statusWord(status) {
  return h("strong", { class: `status status-${status}` }, status);
}

function countsTable(counts, caption = "Counts") {
  return h("div", { class: "table-wrap" }, h("table", { class: "counts" },
    h("caption", {}, caption),
    h("tbody", {}, COUNTS.map((name) => h("tr", {}, h("th", { scope: "row" }, name),
      h("td", { class: "num" }, String(counts[name])))))));
}

function plural(n, word) {
  return `${n} ${n === 1 ? word : `${word}s`}`;
}

function countsSentence(counts) {
  return COUNTS.map((name) => `${counts[name]} ${name}`).join(", ");
}

function table(caption, headers, rows, { numeric = [] } = {}) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((name) =>
      h("th", { scope: "col", class: numeric.includes(name) ? "num" : null }, name)))),
    h("tbody", {}, rows)));
}

function keyField() {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false",
    "aria-describedby": "api-key-hint", value: apiKey.get() });
  input.addEventListener("input", () => apiKey.set(input.value.trim()));
  return h("div", { class: "field" },
    h("label", { for: "api-key" }, "API key"), input,
    h("p", { class: "hint", id: "api-key-hint" }, "Needed to upload, publish, cancel or revert. Kept in this tab only."));
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function setTitle(text) {
  document.title = `${text} · moviedb console`;
}

async function waitWhileRunning(id, onUpdate) {
  for (;;) {
    const upload = await api(`uploads/${id}`);
    onUpdate(upload);
    if (!RUNNING.has(upload.status)) return upload;
    await sleep(400);
  }
}

// --- Upload -----------------------------------------------------------------------------------

function uploadView() {
  setTitle("Upload");
  const error = errorBox();
  const fileInput = h("input", { id: "file", type: "file", accept: ".csv,text/csv", "aria-describedby": "file-hint" });
  const review = h("input", { id: "review", type: "checkbox" });
  const button = h("button", { type: "submit" }, "Upload");
  const drop = h("div", { class: "drop" },
    h("div", { class: "field" }, h("label", { for: "file" }, "CSV file"), fileInput,
      h("p", { class: "hint", id: "file-hint" }, "Choose a file, or drop one here (TMDB export columns, header first).")));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer?.files?.length) {
      fileInput.files = e.dataTransfer.files;
      announce(`File chosen: ${fileInput.files[0].name}`);
    }
  });

  const sent = h("progress", { id: "sent", max: "1", value: "0" });
  const sentText = h("span", {});
  const processed = h("progress", { id: "processed", max: "1", value: "0" });
  const processedText = h("span", {});
  const progress = h("section", { "aria-labelledby": "progress-title", hidden: true },
    h("h2", { id: "progress-title" }, "Progress"),
    h("div", { class: "field" }, h("label", { for: "sent" }, "Bytes sent"), sent, sentText),
    h("div", { class: "field" }, h("label", { for: "processed" }, "Processing"), processed, processedText));
  const outcome = h("section", { "aria-labelledby": "outcome-title", hidden: true });

  const form = h("form", { class: "panel", "aria-labelledby": "upload-title" },
    keyField(), drop,
    h("div", { class: "field check" }, review, h("label", { for: "review" }, "Review before publishing")),
    button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const file = fileInput.files[0];
    if (!file) {
      showError(error, new ApiError(0, "no_file", "Choose a CSV file first."));
      fileInput.focus();
      return;
    }
    button.disabled = true;
    outcome.hidden = true;
    progress.hidden = false;
    sent.value = 0;
    processed.removeAttribute("value");
    processedText.textContent = "";
    announce(`Uploading ${file.name}`);
    try {
      const answer = await sendFile(file, {
        review: review.checked,
        onProgress: (loaded, total) => {
          sent.max = total || 1;
          sent.value = loaded;
          sentText.textContent = `${formatBytes(loaded)} of ${formatBytes(total)}`;
        },
      });
      sent.value = sent.max;
      const accepted = answer.body;
      announce(accepted.duplicate ? "Already uploaded before: showing that upload" : "File received, processing");
      const done = await waitWhileRunning(accepted.upload_id, (upload) => {
        const fraction = upload.progress.fraction;
        if (fraction !== null && fraction !== undefined) processed.value = fraction;
        if (!RUNNING.has(upload.status)) processed.value = 1;
        processedText.textContent = `${upload.status}: ${upload.progress.rows_read} rows read`;
      });
      renderOutcome(outcome, done, accepted.duplicate);
    } catch (err) {
      progress.hidden = true;
      showError(error, err);
    } finally {
      button.disabled = false;
    }
  });

  main.replaceChildren(h("h1", { id: "upload-title" }, "Upload a movie file"), error, form, progress, outcome);
}

function renderOutcome(outcome, upload, duplicate) {
  const parts = [h("h2", { id: "outcome-title" }, "Outcome"),
    h("p", {}, "Status: ", statusWord(upload.status),
      duplicate ? " (the same content was uploaded before; this is that upload)" : "")];
  if (upload.counts) parts.push(countsTable(upload.counts));
  if (upload.error) parts.push(h("p", { class: "error" }, upload.error));
  parts.push(h("p", {}, h("a", { href: viewUrl("detail", { id: upload.upload_id }) }, "Details of this upload")));
  outcome.replaceChildren(...parts);
  outcome.hidden = false;
  announce(`Upload ${upload.status}${upload.counts ? `: ${countsSentence(upload.counts)}` : ""}`);
}

// --- Upload detail ------------------------------------------------------------------------------

async function detailView(id) {
  setTitle("Upload");
  const error = errorBox();
  const body = h("div", {});
  main.replaceChildren(h("h1", {}, "Upload"), error, body);
  if (!id) return showError(error, new ApiError(0, "no_id", "No upload id in the address."));
  let upload;
  try {
    upload = await api(`uploads/${encodeURIComponent(id)}`);
  } catch (err) {
    return showError(error, err);
  }
  await renderDetail(upload, error, body);
}

async function renderDetail(upload, error, body) {
  main.querySelector("h1").textContent = `Upload ${upload.filename}`;
  setTitle(`Upload ${upload.filename}`);
  const id = upload.upload_id;
  const parts = [
    h("p", {}, "Status: ", statusWord(upload.status)),
    facts([
      ["Upload id", id], ["File", upload.filename], ["Source", upload.source],
      ["Size", formatBytes(upload.size_bytes)], ["Review asked", upload.review ? "yes" : "no"],
      ["Rows read", String(upload.progress.rows_read)], ["Attempts", String(upload.attempts)],
      ["Created", formatTime(upload.created_at)], ["Started", formatTime(upload.started_at)],
      ["Validated", formatTime(upload.validated_at)], ["Published", formatTime(upload.published_at)],
      ["Cancelled", formatTime(upload.cancelled_at)], ["Reverted", formatTime(upload.reverted_at)],
      ["Finished", formatTime(upload.finished_at)],
      ...(upload.ignored_columns.length ? [["Ignored columns", upload.ignored_columns.join(", ")]] : []),
    ]),
  ];
  if (upload.error) parts.push(h("h2", {}, "Error"), h("p", { class: "error" }, upload.error));
  if (upload.counts) parts.push(countsTable(upload.counts));
  if (upload.reverted) {
    parts.push(h("p", {}, `The revert removed ${plural(upload.reverted.removed, "movie")} and restored ${upload.reverted.restored}.`));
  }
  const actions = actionsFor(upload, error, body);
  if (actions) parts.push(actions);
  body.replaceChildren(...parts);

  if (RUNNING.has(upload.status)) {
    body.append(h("p", {}, "Processing… this page follows the upload."));
    try {
      const done = await waitWhileRunning(id, () => {});
      announce(`Upload ${done.status}`);
      return renderDetail(done, error, body);
    } catch (err) {
      return showError(error, err);
    }
  }
  if (["validated", "completed", "reverted"].includes(upload.status)) {
    body.append(changeSection(id, "inserted", upload), changeSection(id, "updated", upload));
  }
  if (upload.counts?.rejected || upload.status === "failed") body.append(await rejectsSection(id));
}

function actionsFor(upload, error, body) {
  const buttons = [];
  const act = (label, path, className) => {
    const button = h("button", { type: "button", class: className }, label);
    button.addEventListener("click", async () => {
      error.textContent = "";
      button.disabled = true;
      try {
        let after = await api(`uploads/${upload.upload_id}/${path}`, { method: "POST", key: true });
        announce(`Upload ${after.status}`);
        if (RUNNING.has(after.status)) after = await waitWhileRunning(after.upload_id, () => {});
        await renderDetail(after, error, body);
      } catch (err) {
        button.disabled = false;
        showError(error, err);
      }
    });
    return button;
  };
  if (upload.status === "validated") buttons.push(act("Publish", "publish"));
  if (["pending", "processing", "validated"].includes(upload.status)) buttons.push(act("Cancel", "cancel", "secondary"));
  if (upload.status === "completed") buttons.push(revertButton(upload, error, body));
  if (!buttons.length) return null;
  return h("section", { "aria-labelledby": "actions-title" }, h("h2", { id: "actions-title" }, "Actions"),
    keyField(), h("div", { class: "actions" }, buttons));
}

function revertButton(upload, error, body) {
  const c = upload.counts || { inserted: 0, updated: 0 };
  const yes = h("button", { type: "button", class: "danger" }, "Yes, revert");
  const no = h("button", { type: "button", class: "secondary" }, "No, keep it");
  const dialog = h("dialog", { "aria-labelledby": "revert-title", "aria-describedby": "revert-what" },
    h("h2", { id: "revert-title" }, "Revert this upload?"),
    h("p", { id: "revert-what" }, `This removes the ${plural(c.inserted, "movie")} it inserted and puts back the ` +
      `${plural(c.updated, "movie")} it updated as they were before it (${upload.filename}).`),
    h("div", { class: "actions" }, yes, no));
  no.addEventListener("click", () => dialog.close());
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    error.textContent = "";
    try {
      const after = await api(`uploads/${upload.upload_id}/revert`, { method: "POST", key: true });
      dialog.close();
      announce(`Upload ${after.status}: ${after.reverted.removed} removed, ${after.reverted.restored} restored`);
      await renderDetail(after, error, body);
    } catch (err) {
      dialog.close();
      yes.disabled = false;
      showError(error, err);
    }
  });
  const open = h("button", { type: "button", class: "danger", onclick: () => dialog.showModal() }, "Revert");
  return [open, dialog];
}

function changeSection(id, change, upload) {
  const section = h("section", { "aria-labelledby": `${change}-title` },
    h("h2", { id: `${change}-title` }, change === "inserted" ? "Inserted movies" : "Updated movies"));
  const error = errorBox();
  const rows = h("tbody", {});
  const headers = change === "inserted" ? ["Title", "Release date", "Language", "Movie id"]
    : ["Title", "Release date", "Language", "Movie id", "Changes (before → after)"];
  const summary = h("p", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, `More ${change} movies`);
  const csv = h("a", { href: apiUrl(`uploads/${id}/changes`, { change, format: "csv", page_size: 1000 }) },
    `Download the ${change} movies (CSV, first 1000)`);
  const tableEl = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", {}, change === "inserted" ? "Inserted" : "Updated"),
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))), rows));
  section.append(summary, error, tableEl, more, " ", csv);
  let page = 1;
  let shown = 0;
  const load = async () => {
    more.hidden = true;
    try {
      const found = await api(`uploads/${id}/changes`, { params: { change, page, page_size: 100 } });
      for (const item of found.items) {
        const cells = [h("td", {}, item.title), h("td", {}, item.release_date ?? "—"),
          h("td", {}, item.original_language ?? "—"), h("td", { class: "num" },
            item.movie_id ? h("a", { href: viewUrl("movie", { id: item.movie_id }) }, String(item.movie_id)) : "new")];
        if (change === "updated") {
          cells.push(h("td", {}, h("ul", { class: "changes" }, Object.entries(item.changes || {}).map(([field, v]) =>
            h("li", {}, h("strong", {}, field), `: ${JSON.stringify(v.before)} → ${JSON.stringify(v.after)}`)))));
        }
        rows.append(h("tr", {}, cells));
      }
      shown += found.items.length;
      const verb = upload.status === "validated" ? "would be" : found.total === 1 ? "was" : "were";
      summary.textContent = `${plural(found.total, "movie")} ${verb} ${change}${found.total ? `; ${shown} shown` : ""}.`;
      tableEl.hidden = found.total === 0;
      csv.hidden = found.total === 0;
      more.hidden = shown >= found.total;
      page += 1;
    } catch (err) {
      showError(error, err);
    }
  };
  more.addEventListener("click", load);
  load();
  return section;
}

async function rejectsSection(id) {
  const href = apiUrl(`uploads/${id}/rejects`);
  const section = h("section", { "aria-labelledby": "rejects-title" },
    h("h2", { id: "rejects-title" }, "Rejected rows"),
    h("p", {}, h("a", { href, download: `rejects-${id}.csv` }, "Download the rejected rows (CSV)")));
  try {
    const response = await api(`uploads/${id}/rejects`, { raw: true });
    const { text, complete } = await readText(response, REJECTS_SHOWN_CHARS);
    let rows = parseCsv(text).slice(1); // the header: line, column, reason, raw_record
    if (!complete) rows = rows.slice(0, -1); // the last one may be cut
    rows = rows.filter((r) => r.length >= 4);
    if (!rows.length) {
      section.append(h("p", {}, "No rejected rows."));
      return section;
    }
    section.append(table(complete ? `Rejected rows (${rows.length})` : `Rejected rows: the first ${rows.length}`,
      ["Line", "Column", "Reason", "Record"],
      rows.map(([line, column, reason, record]) => h("tr", {},
        h("td", { class: "num" }, line), h("td", {}, unguard(column) || "(whole record)"),
        h("td", {}, unguard(reason)), h("td", { class: "record" }, unguard(record)))),
      { numeric: ["Line"] }));
  } catch (err) {
    const error = errorBox();
    section.append(error);
    showError(error, err);
  }
  return section;
}

// --- History ----------------------------------------------------------------------------------

async function historyView() {
  setTitle("History");
  const status = params.get("status") || "";
  const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
  const error = errorBox();
  const select = h("select", { id: "status", name: "status" }, h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)));
  const form = h("form", { class: "panel", method: "get", action: "", role: "search", "aria-label": "Filter uploads" },
    h("input", { type: "hidden", name: "view", value: "history" }),
    h("div", { class: "field" }, h("label", { for: "status" }, "Status"), select),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.assign(viewUrl("history", { status: select.value }));
  });
  const results = h("div", { "aria-live": "polite" });
  main.replaceChildren(h("h1", {}, "Upload history"), form, error, results);
  try {
    const found = await api("uploads", { params: { page, page_size: 20, status } });
    const pages = Math.max(1, Math.ceil(found.total / found.page_size));
    const rows = found.items.map((u) => h("tr", {},
      h("td", {}, formatTime(u.created_at)),
      h("td", {}, h("a", { href: viewUrl("detail", { id: u.upload_id }) }, u.filename)),
      h("td", {}, statusWord(u.status)),
      COUNTS.map((name) => h("td", { class: "num" }, u.counts ? String(u.counts[name]) : "—"))));
    results.replaceChildren(
      h("p", {}, `${plural(found.total, "upload")}${status ? ` ${status}` : ""}, newest first. Page ${page} of ${pages}.`),
      found.items.length ? table("Uploads", ["Created", "File", "Status", ...COUNTS], rows, { numeric: COUNTS })
        : h("p", {}, "No uploads."),
      h("nav", { class: "pager", "aria-label": "Pages" },
        page > 1 ? h("a", { href: viewUrl("history", { status, page: page - 1 }), rel: "prev" }, "Previous page") : null,
        page < pages ? h("a", { href: viewUrl("history", { status, page: page + 1 }), rel: "next" }, "Next page") : null));
  } catch (err) {
    showError(error, err);
  }
}

// --- Catalogue --------------------------------------------------------------------------------

function catalogueField(name, label, attrs = {}) {
  const id = `f-${name}`;
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("input", { id, name, type: "text", value: params.get(name) || "", ...attrs }));
}

function catalogueSelect(name, label, options) {
  const id = `f-${name}`;
  const current = params.get(name) || "";
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("select", { id, name }, options.map(([value, text]) => h("option", { value, selected: value === current }, text))));
}

async function catalogueView() {
  setTitle("Catalogue");
  const error = errorBox();
  const number = { type: "number", inputmode: "numeric", min: "0" };
  const form = h("form", { class: "panel", method: "get", action: "", role: "search", "aria-label": "Movies" },
    h("div", { class: "field" }, h("label", { for: "f-q" }, "Search"),
      h("input", { id: "f-q", name: "q", type: "search", value: params.get("q") || "",
        "aria-describedby": "q-hint", maxlength: "200" }),
      h("p", { class: "hint", id: "q-hint" }, "Words of the title (3 letters or digits in a row at least).")),
    h("div", { class: "grid" },
      catalogueField("release_year", "Year", { ...number, min: "1", max: "9999" }),
      catalogueField("year_from", "From year", { ...number, min: "1", max: "9999" }),
      catalogueField("year_to", "To year", { ...number, min: "1", max: "9999" }),
      catalogueField("language", "Language", { placeholder: "en, French, …" }),
      catalogueField("spoken_language", "Spoken language", { placeholder: "English, Русский, …" }),
      catalogueField("genre_id", "Genre id", number),
      catalogueField("min_votes", "Minimum votes", number),
      catalogueSelect("sort_by", "Sort by", [["", "id (upload order)"], ["title", "title"],
        ["release_date", "release date"], ["vote_average", "rating"], ["vote_count", "votes"], ["revenue", "revenue"]]),
      catalogueSelect("sort_order", "Order", [["", "ascending"], ["desc", "descending"]]),
      catalogueSelect("page_size", "Per page", [["", "10"], ["25", "25"], ["50", "50"], ["100", "100"]])),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply filters"),
      h("a", { href: viewUrl("catalogue") }, "Clear")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const values = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v).trim()]));
    location.assign(viewUrl("catalogue", values)); // a new filter starts at the first page
  });
  const results = h("div", { "aria-live": "polite" });
  main.replaceChildren(h("h1", {}, "Catalogue"), form, error, results);

  const query = {};
  for (const name of MOVIE_FILTERS) if (params.get(name)) query[name] = params.get(name);
  try {
    const found = await api("movies", { params: query });
    const rows = found.items.map((m) => h("tr", {},
      h("td", {}, h("a", { href: viewUrl("movie", { id: m.id }) }, m.title)),
      h("td", { class: "num" }, m.release_year ?? "—"),
      h("td", {}, m.original_language ?? "—"),
      h("td", { class: "num" }, m.vote_average ?? "—"),
      h("td", { class: "num" }, m.vote_count ?? "—")));
    const { cursor, ...first } = query;
    results.replaceChildren(
      h("p", {}, found.total === null ? `${plural(found.items.length, "movie")} on this page.` : `${plural(found.total, "movie")} found.`),
      found.items.length ? table("Movies", ["Title", "Year", "Language", "Rating", "Votes"], rows,
        { numeric: ["Year", "Rating", "Votes"] }) : h("p", {}, "No movie matches."),
      h("nav", { class: "pager", "aria-label": "Pages" },
        cursor ? h("a", { href: viewUrl("catalogue", first) }, "First page") : null,
        found.next_cursor ? h("a", { href: viewUrl("catalogue", { ...query, cursor: found.next_cursor }), rel: "next" }, "Next page") : null));
    announce(found.total === null ? "Movies listed" : `${plural(found.total, "movie")} found`);
  } catch (err) {
    showError(error, err);
  }
}

async function movieView(id) {
  setTitle("Movie");
  const error = errorBox();
  main.replaceChildren(h("h1", {}, "Movie"), error);
  try {
    const m = await api(`movies/${encodeURIComponent(id || "")}`);
    main.querySelector("h1").textContent = m.title;
    setTitle(m.title);
    const money = (v) => (v === null ? "unknown" : v.toLocaleString());
    main.append(facts([
      ["Id", String(m.id)], ["Original title", m.original_title ?? "—"],
      ["Release date", m.release_date ?? "—"], ["Original language", m.original_language ?? "—"],
      ["Spoken languages", (m.languages || []).join(", ") || "—"], ["Rating", m.vote_average ?? "—"],
      ["Votes", m.vote_count ?? "—"], ["Runtime", m.runtime === null ? "—" : `${m.runtime} min`],
      ["Status", m.status ?? "—"], ["Budget", money(m.budget)], ["Revenue", money(m.revenue)],
      ["Genre id", m.genre_id ?? "—"], ["Production company id", m.production_company_id ?? "—"],
      ["Homepage", /^https?:\/\//i.test(m.homepage || "")
        ? h("a", { href: m.homepage, rel: "noopener noreferrer" }, m.homepage) : (m.homepage || "—")],
      ["Overview", m.overview ?? "—"],
    ]));
  } catch (err) {
    showError(error, err);
  }
  main.append(h("p", {}, h("a", { href: viewUrl("catalogue") }, "Back to the catalogue")));
}

// --- the view of this address ------------------------------------------------------------------

const VIEWS = {
  upload: uploadView,
  detail: () => detailView(params.get("id")),
  history: historyView,
  catalogue: catalogueView,
  movie: () => movieView(params.get("id")),
};
const view = VIEWS[params.get("view")] ? params.get("view") : "upload";
const navView = { detail: "history", movie: "catalogue" }[view] || view;
for (const link of document.querySelectorAll("nav a[data-view]")) {
  if (link.dataset.view === navView) link.setAttribute("aria-current", "page");
}
Promise.resolve(VIEWS[view]()).catch((err) => {
  const box = errorBox();
  main.prepend(box);
  showError(box, err);
});
