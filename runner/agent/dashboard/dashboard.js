// The agent's dashboard: polls /status and shows it. Everything is put in as text (never as HTML),
// and nodes are replaced only when what they show changed, so that focus and open history views
// survive the updates.
"use strict";

const POLL_MS = 2000;
const HISTORY_SHOWN = 10;

const $ = (id) => document.getElementById(id);
const short = (commit) => (commit ? commit.slice(0, 7) : "?");
const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** `tag` with attributes and children (strings become text nodes). */
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  node.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

/** "3 minutes ago", in a <time> that carries the exact time. */
function ago(iso) {
  if (!iso) return "?";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const [n, unit] =
    Math.abs(s) < 60
      ? [s, "second"]
      : Math.abs(s) < 3600
        ? [s / 60, "minute"]
        : Math.abs(s) < 86400
          ? [s / 3600, "hour"]
          : [s / 86400, "day"];
  const text = Math.abs(s) < 10 ? "just now" : relative.format(Math.round(n), unit);
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, text);
}

function duration(seconds) {
  return seconds >= 3600 ? `${+(seconds / 3600).toFixed(1)} h` : seconds >= 60 ? `${+(seconds / 60).toFixed(1)} min` : `${seconds} s`;
}

/** The commit's hash, linked to the forge when the agent knows where it shows commits. */
function commitRef(agent, commit) {
  if (!commit) return "none";
  const code = h("code", {}, short(commit));
  return agent.commitUrl ? h("a", { href: agent.commitUrl + commit, title: commit }, code) : h("span", { title: commit }, code);
}

/** The stack's sync state: [words, kind for the badge's colour]. */
function syncState(s) {
  if (s.pin) return [`pinned to ${short(s.pin)}`, "pinned"];
  if (s.result === "failed") return ["failed", "failed"];
  if (!s.deployed) return ["not deployed", "unknown"];
  if (s.inSync === true) return ["in sync", "ok"];
  if (s.inSync === false) return [`behind by ${s.behind} commit${s.behind === 1 ? "" : "s"}`, "behind"];
  return ["unknown", "unknown"];
}

function driftOf(name, drift) {
  if (!drift) return "not checked yet";
  if (drift.drifted.includes(name)) return [h("strong", {}, "drifted: "), drift.changes?.[name] ?? "", " (", ago(drift.time), ")"];
  if (drift.remediated.includes(name)) return ["drifted, restored (", ago(drift.time), ")"];
  if (drift.failed.includes(name)) return ["the check failed (", ago(drift.time), ")"];
  return ["none (", ago(drift.time), ")"];
}

function changesText(changes) {
  return (
    Object.entries(changes ?? {})
      .filter(([k, v]) => v && k !== "same")
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "no changes"
  );
}

function historyTable(agent, name, rows) {
  if (!rows?.length) return h("p", {}, "No updates yet.");
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, `The last ${Math.min(rows.length, HISTORY_SHOWN)} updates of ${name}, newest first`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["#", "Started", "Kind", "Result", "Commit", "Changes", "Message"].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        rows
          .slice(0, HISTORY_SHOWN)
          .map((r) =>
            h(
              "tr",
              {},
              h("td", {}, String(r.version ?? "")),
              h("td", {}, ago(r.started)),
              h("td", {}, r.kind),
              h("td", { class: r.result === "failed" ? "bad" : undefined }, r.result),
              h("td", {}, commitRef(agent, r.commit)),
              h("td", {}, changesText(r.changes)),
              h("td", {}, r.message),
            ),
          ),
      ),
    ),
  );
}

function details(agent, s, drift) {
  const row = (term, ...desc) => [h("dt", {}, term), h("dd", {}, ...desc)];
  const failure = agent.failure;
  return h(
    "dl",
    {},
    row("Runs", commitRef(agent, s.commit), " ", s.subject ?? (s.deployed ? "(commit not in the agent's clone)" : "")),
    s.commit && row("Author", s.author ?? "?", ", ", ago(s.authored)),
    s.pin &&
      row(
        "Pinned",
        commitRef(agent, s.pin),
        " by a rollback; the agent leaves the stack there until ",
        h("code", {}, `gitops unpin --stack ${s.stack}`),
      ),
    s.result &&
      row(
        "Last attempt",
        h("span", { class: s.result === "failed" ? "bad" : undefined }, s.result),
        ` ${s.command ?? "update"} of `,
        commitRef(agent, s.attempted),
        ", ",
        ago(s.time),
        s.result === "failed" && failure?.commit && failure.commit === s.attempted ? ["; ", h("a", { href: "#failure" }, "its error")] : [],
      ),
    s.gate && row("Gate", gateOf(agent, s)),
    s.promoted &&
      row(
        "Promoted",
        commitRef(agent, s.promoted.commit),
        ` from ${s.promoted.from} by ${s.promoted.by}, `,
        ago(s.promoted.time),
        s.promoted.override ? ` (override: ${s.promoted.override})` : "",
      ),
    row("Drift", driftOf(s.stack, drift)),
  );
}

/** A gated stack's gate: what waits there and why, or that the stack runs what its upstream verified. */
function gateOf(agent, s) {
  const g = s.gate;
  if (!g.candidate) return `nothing to promote from ${g.from}: ${g.reason}`;
  if (g.candidate === s.commit) return ["runs ", commitRef(agent, g.candidate), `, what ${g.from} verified`];
  return [commitRef(agent, g.candidate), g.open ? " ready: " : " waiting: ", g.reason];
}

/** One card per stack, made once: its history view stays open (and focused) across updates. */
const cards = new Map();
function card(name) {
  let c = cards.get(name);
  if (!c) {
    const id = `stack-${name}`;
    c = {
      state: h("span", { class: "state" }),
      body: h("div", {}),
      history: h("div", {}),
    };
    c.article = h(
      "article",
      { class: "stack", "aria-labelledby": id, "data-stack": name },
      h("h3", { id }, name, " ", c.state),
      c.body,
      h("details", {}, h("summary", {}, `History of ${name}`), c.history),
    );
    cards.set(name, c);
  }
  return c;
}

/** Puts `node` in `parent` unless the same content is already there. */
function show(parent, node) {
  if (parent.childNodes.length !== 1 || !parent.firstChild.isEqualNode(node)) parent.replaceChildren(node);
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function render(status) {
  const { agent, stacks, history } = status;
  setText($("source"), `Follows ${agent.branch} of ${agent.source}`);
  const last = agent.lastSync;
  show(
    $("agent"),
    h(
      "span",
      {},
      agent.ready ? "Ready" : "Starting: the first sync has not completed",
      agent.busy ? `; now ${agent.busy === "sync" ? "syncing" : "checking drift"}` : "",
      agent.head ? ["; branch at ", commitRef(agent, agent.head)] : "",
      last ? ["; last sync ", ago(last.time), `: ${last.outcome.replace("_", " ")}`] : "",
    ),
  );

  const failure = agent.failure;
  $("failure").hidden = !failure;
  if (failure) {
    show(
      $("failure-what"),
      h(
        "span",
        {},
        failure.commit ? ["Commit ", commitRef(agent, failure.commit)] : `Fetching ${agent.branch}`,
        ` failed (attempt ${failure.attempts}). Backoff ${duration(failure.backoffSeconds)}: next attempt `,
        ago(failure.retryAt),
        failure.commit ? ", or at once when a new commit arrives." : ".",
      ),
    );
    setText($("failure-error"), failure.error);
  }

  const list = $("stacks");
  for (const child of [...list.children]) if (!child.matches("article.stack")) child.remove();
  const seen = new Set();
  for (const s of stacks) {
    seen.add(s.stack);
    const c = card(s.stack);
    const [words, kind] = syncState(s);
    setText(c.state, words);
    c.state.className = `state ${kind}`;
    show(c.body, details(agent, s, agent.lastDrift));
    show(c.history, historyTable(agent, s.stack, history?.[s.stack]));
  }
  for (const [name, c] of cards) {
    if (seen.has(name)) continue;
    c.article.remove();
    cards.delete(name);
  }
  // In the agent's order (environments in promotion order), moving only what is out of place.
  stacks.forEach((s, i) => {
    const node = cards.get(s.stack).article;
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
  if (!stacks.length) show(list, h("p", {}, "No stacks yet: the first sync has not read the repository."));

  const drift = agent.lastDrift;
  show(
    $("drift"),
    !drift
      ? h("span", {}, "No drift check yet.")
      : h(
          "span",
          {},
          "Last check ",
          ago(drift.time),
          ": ",
          drift.drifted.length ? `${drift.drifted.join(", ")} drifted` : "no drift",
          drift.remediated.length ? `; restored ${drift.remediated.join(", ")}` : "",
          drift.failed.length ? `; the check failed for ${drift.failed.join(", ")}` : "",
          ".",
        ),
  );
}

async function poll() {
  const updated = $("updated");
  try {
    const res = await fetch("status", { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render(await res.json());
    updated.className = "";
    setText(updated, `Updated ${new Date().toLocaleTimeString()}; every ${POLL_MS / 1000} s.`);
  } catch (err) {
    updated.className = "bad";
    setText(updated, `The agent does not answer (${err.message}); trying again every ${POLL_MS / 1000} s.`);
  }
  setTimeout(poll, POLL_MS);
}

poll();
