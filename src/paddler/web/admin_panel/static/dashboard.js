// The dashboard: addresses, buffered requests, the agent, what each slot is doing, and charts.
import { showAddAgent } from "./add_agent.js";
import { follow, getJson, panelConfig, poll, serviceBase } from "./api.js";
import { lineChart } from "./charts.js";
import { formatNumber, h, openDialog } from "./dom.js";
import { explainIssue } from "./issues.js";

const HISTORY_POLL_MS = 2000;

function connection(label) {
  const badge = h("span", { class: "connection", role: "status", "aria-live": "polite" }, "connecting…");
  return {
    badge,
    set(state) {
      badge.textContent = state === "live" ? `${label} live` : `${label} reconnecting…`;
      badge.dataset.state = state;
    },
  };
}

function addresses() {
  const config = panelConfig();
  const rows = [
    [config.fleet ? "Management (the balancer)" : "Management", serviceBase(config.management)],
    [config.fleet ? "Inference (HAProxy)" : "Inference", serviceBase(config.inference)],
    ["OpenAI API", config.openai ? serviceBase(config.openai) : `${serviceBase(config.inference)}/v1`],
  ];
  return h("section", { class: "card", "aria-labelledby": "addresses-title" },
    h("h2", { id: "addresses-title" }, "Addresses"),
    h("dl", { class: "pairs" }, rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, h("code", {}, value))])));
}

function bufferedSection(signal) {
  const config = panelConfig();
  const bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": config.max_buffered_requests, "aria-label": "Buffered requests" }, h("div", { class: "fill" }));
  const text = h("span", { id: "buffered-count" }, "–");
  const live = connection("");
  const section = h("section", { class: "card", "aria-labelledby": "buffered-title" },
    h("h2", { id: "buffered-title" }, "Buffered requests ", live.badge),
    bar,
    h("p", {}, text, ` of ${config.max_buffered_requests} waiting for a slot; each waits at most ${formatNumber(config.buffered_request_timeout_ms / 1000, 1)} s`));
  follow("management", "/api/v1/buffered_requests/stream", (data) => {
    const current = data.buffered_requests_current;
    text.textContent = String(current);
    bar.setAttribute("aria-valuenow", current);
    bar.firstChild.style.width = `${Math.min(100, (100 * current) / Math.max(1, config.max_buffered_requests))}%`;
  }, { signal, onState: live.set });
  return section;
}

function issuesDialog(agent) {
  openDialog(`Issues of ${agent.name ?? agent.id}`, h("ul", { class: "issues" }, agent.issues.map((issue) => {
    const explained = explainIssue(issue);
    return h("li", {},
      h("h3", {}, explained.name),
      h("p", {}, h("strong", {}, "What happened: "), explained.what),
      h("p", {}, h("strong", {}, "What the server does: "), explained.server),
      h("p", {}, h("strong", {}, "What you can do: "), explained.you),
      explained.details ? h("pre", {}, JSON.stringify(explained.details, null, 2)) : null);
  })));
}

async function metadataDialog(agent) {
  const body = h("div", {}, h("p", {}, "Loading…"));
  openDialog(`Model of ${agent.name ?? agent.id}`, body);
  const [metadata, override] = await Promise.all([
    getJson("management", `/api/v1/agent/${encodeURIComponent(agent.id)}/model_metadata`),
    getJson("management", `/api/v1/agent/${encodeURIComponent(agent.id)}/chat_template_override`),
  ]);
  const entries = Object.entries(metadata?.metadata ?? {}).sort(([left], [right]) => left.localeCompare(right));
  const template = entries.find(([key]) => key === "tokenizer.chat_template");
  body.replaceChildren(
    override ? h("section", {}, h("h3", {}, "Chat template override (in use)"), h("pre", { class: "code" }, override.content)) : null,
    template ? h("section", {}, h("h3", {}, "The model's chat template"), h("pre", { class: "code" }, template[1])) : null,
    h("h3", {}, "GGUF metadata"),
    h("table", { class: "metadata" }, h("tbody", {}, entries.filter(([key]) => key !== "tokenizer.chat_template").map(([key, value]) =>
      h("tr", {}, h("th", { scope: "row" }, key), h("td", {}, String(value).slice(0, 400)))))),
  );
}

function agentCard(agent) {
  const ok = agent.issues.length === 0;
  const downloading = agent.download_filename !== null;
  const fileName = agent.model_path ? agent.model_path.split(/[\\/]/).pop() : "no model loaded";
  return h("article", { class: "agent", "data-agent-id": agent.id },
    h("header", {},
      h("h3", {}, agent.name ?? agent.id),
      ok ? h("span", { class: "badge ok" }, "OK")
        : h("button", { type: "button", class: "badge warn", onclick: () => issuesDialog(agent) }, `${agent.issues.length} issue${agent.issues.length > 1 ? "s" : ""}`)),
    downloading
      ? h("div", {}, h("p", {}, `Downloading ${agent.download_filename}`),
        h("progress", { max: agent.download_indeterminate ? null : agent.download_total, value: agent.download_indeterminate ? null : agent.download_current }))
      : h("p", { class: "model-file" }, h("code", {}, fileName)),
    h("p", {},
      h("span", { class: "slots-count", "data-processing": agent.slots_processing }, `Slots ${agent.slots_processing} processing / ${agent.slots_total} total / ${agent.desired_slots_total} desired`),
      " · ", h("span", { class: "state" }, agent.state_application_status)),
    h("p", {}, h("button", { type: "button", onclick: () => metadataDialog(agent) }, "Model metadata"), agent.uses_chat_template_override ? h("span", { class: "muted" }, " custom chat template") : null));
}

function agentsSection(signal) {
  const list = h("div", { class: "agents" }, h("p", { class: "muted" }, "Waiting for agents…"));
  const live = connection("");
  let agentCount = 0;
  follow("management", "/api/v1/agents/stream", (data) => {
    agentCount = data.agents.length;
    list.replaceChildren(...(data.agents.length ? data.agents.map(agentCard) : [h("p", {}, "No agent is connected.")]));
  }, { signal, onState: live.set });
  const addAgent = h("button", { type: "button", id: "add-agent", onclick: () => showAddAgent(agentCount) }, "How to add an agent");
  return h("section", { class: "card", "aria-labelledby": "agents-title" }, h("h2", { id: "agents-title" }, "Agents ", live.badge), list, h("p", {}, addAgent));
}

function describeSlot(slot) {
  if (slot.phase === "idle") return slot.cached_prefix ? `idle, ${slot.cached_prefix} tokens cached` : "idle";
  if (slot.phase === "prompt") return `reading prompt ${slot.prompt_processed} / ${slot.prompt_tokens} (${slot.cached_prefix} from cache)`;
  return `generating, ${slot.generated_tokens} tokens (prompt ${slot.prompt_tokens}, ${slot.cached_prefix} from cache)`;
}

function slotItem(slot) {
  return h("li", { class: `slot ${slot.phase}`, "data-phase": slot.phase, "data-slot": slot.index },
    h("strong", {}, `Slot ${slot.index}`), h("span", {}, describeSlot(slot)),
    slot.phase === "prompt" ? h("progress", { max: slot.prompt_tokens, value: slot.prompt_processed }) : null);
}

// A balancer's slots name their agent: one group per agent, in the order they come.
function slotGroups(slots) {
  if (!slots.some((slot) => slot.agent_id)) return [h("ol", { class: "slots" }, slots.map(slotItem))];
  const groups = new Map();
  for (const slot of slots) {
    if (!groups.has(slot.agent_id)) groups.set(slot.agent_id, { name: slot.agent_name ?? slot.agent_id, slots: [] });
    groups.get(slot.agent_id).slots.push(slot);
  }
  return [...groups].map(([agentId, group]) => h("section", { class: "slot-group", "data-agent-id": agentId },
    h("h3", {}, group.name), h("ol", { class: "slots" }, group.slots.map(slotItem))));
}

function slotsSection(signal) {
  const grid = h("div", {});
  const extra = h("p", { class: "muted" });
  const live = connection("");
  follow("management", "/api/v1/slots/stream", (data) => {
    grid.replaceChildren(...slotGroups(data.slots));
    extra.textContent = data.embedding_batches ? `${data.embedding_batches} embedding batch(es) running` : "";
  }, { signal, onState: live.set });
  return h("section", { class: "card", "aria-labelledby": "slots-title" }, h("h2", { id: "slots-title" }, "Slots ", live.badge), grid, extra);
}

function chartsSection(signal) {
  const charts = h("div", { class: "charts" }, h("p", { class: "muted" }, "Collecting samples…"));
  const live = connection("");
  poll("management", "/api/v1/metrics/history", HISTORY_POLL_MS, (data) => {
    const samples = data.samples;
    const slotsTotal = Math.max(1, ...samples.map((sample) => sample.slots_total));
    const milliseconds = (value) => (value === null || value === undefined ? "–" : `${formatNumber(value * 1000)} ms`);
    const percent = (value) => (value === null || value === undefined ? "–" : `${formatNumber(value * 100)}%`);
    charts.replaceChildren(
      lineChart({ title: "Tokens/s", samples, series: [{ key: "tokens_per_second", label: "", className: "s1" }] }),
      lineChart({ title: "Time to first token", samples, format: milliseconds, series: [{ key: "ttft_p50", label: "p50", className: "s1" }, { key: "ttft_p95", label: "p95", className: "s2" }] }),
      lineChart({ title: "Slots busy", samples, max: slotsTotal, format: (value) => formatNumber(value), series: [{ key: "slots_busy", label: "", className: "s1" }] }),
      lineChart({ title: "Queue length", samples, format: (value) => formatNumber(value), series: [{ key: "queue_length", label: "", className: "s2" }] }),
      lineChart({ title: "Prefix cache hit rate", samples, max: 1, format: percent, series: [{ key: "cache_hit_rate", label: "", className: "s3" }] }),
    );
  }, { signal, onState: live.set });
  return h("section", { class: "card wide", "aria-labelledby": "charts-title" }, h("h2", { id: "charts-title" }, "Last minutes ", live.badge), charts);
}

export function showDashboard(main, signal) {
  main.append(
    h("h1", { class: "page-title" }, "Dashboard"),
    h("div", { class: "grid" }, addresses(), bufferedSection(signal), agentsSection(signal), slotsSection(signal), chartsSection(signal)),
  );
}
