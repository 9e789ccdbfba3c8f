// The desired state of the whole fleet as a form, applied with PUT and then followed on the dashboard.
import { call, getJson, panelConfig } from "./api.js";
import { field, h } from "./dom.js";
import { templateEditor } from "./template_editor.js";

const KV_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "IQ4_NL", "Q5_0", "Q5_1"];
const POOLING = ["Unspecified", "None", "Mean", "Cls", "Last", "Rank"];
// name, label, kind (int, float, bool or a list of choices), hint
const PARAMETERS = [
  ["context_size", "Context size", "int", "KV cache cells shared by all slots"],
  ["n_batch", "Batch size", "int", "tokens per decode step"],
  ["n_gpu_layers", "GPU layers", "int", "layers offloaded to the GPU (-1: all)"],
  ["k_cache_dtype", "K cache type", KV_TYPES, null],
  ["v_cache_dtype", "V cache type", KV_TYPES, null],
  ["temperature", "Temperature", "float", "0 picks the likeliest token"],
  ["top_k", "Top k", "int", "0 keeps all tokens"],
  ["top_p", "Top p", "float", "1 disables"],
  ["min_p", "Min p", "float", "0 disables"],
  ["penalty_repeat", "Repeat penalty", "float", "1 disables"],
  ["penalty_frequency", "Frequency penalty", "float", "0 disables"],
  ["penalty_presence", "Presence penalty", "float", "0 disables"],
  ["penalty_last_n", "Penalty window", "int", "-1: the whole context"],
  ["enable_embeddings", "Embeddings", "bool", "also serve embeddings"],
  ["embedding_batch_size", "Embedding batch size", "int", null],
  ["pooling_type", "Pooling", POOLING, "how token vectors become one embedding"],
  ["image_resize_to_fit", "Image resize to fit", "int", "pixels (kept for Paddler's clients)"],
];

function sourceOf(model) {
  if (model === "None") return { kind: "local", path: "" };
  if (model.HuggingFace) return { kind: "huggingface", ...model.HuggingFace };
  if (model.Url) return { kind: "url", url: model.Url.url };
  return { kind: "local", path: model.LocalToAgent };
}

function modelFrom(form) {
  const kind = form.elements.source_kind.value;
  if (kind === "huggingface") {
    return { HuggingFace: { repo_id: form.elements.repo_id.value.trim(), filename: form.elements.filename.value.trim(), revision: form.elements.revision.value.trim() || "main" } };
  }
  if (kind === "url") return { Url: { url: form.elements.url.value.trim() } };
  return { LocalToAgent: form.elements.path.value.trim() };
}

function parameterControl([name, label, kind, hint], value) {
  if (kind === "bool") {
    return h("label", { class: "field check" }, h("input", { type: "checkbox", name, checked: Boolean(value) }), h("span", {}, label), hint ? h("small", { class: "muted" }, hint) : null);
  }
  if (Array.isArray(kind)) {
    const select = h("select", { name }, kind.map((choice) => h("option", { value: choice, selected: choice === value }, choice)));
    return field(label, select, hint);
  }
  const input = h("input", { type: "number", name, value, step: kind === "int" ? 1 : "any", required: true, inputmode: kind === "int" ? "numeric" : "decimal" });
  return field(label, input, hint);
}

function parametersFrom(form) {
  const parameters = {};
  for (const [name, , kind] of PARAMETERS) {
    const control = form.elements[name];
    if (kind === "bool") parameters[name] = control.checked;
    else if (kind === "int") parameters[name] = Number.parseInt(control.value, 10);
    else if (kind === "float") parameters[name] = Number.parseFloat(control.value);
    else parameters[name] = control.value;
  }
  return parameters;
}

function sourceFields(source) {
  const choice = (value, label) => h("label", { class: "check" }, h("input", { type: "radio", name: "source_kind", value, checked: source.kind === value }), h("span", {}, label));
  const groups = {
    huggingface: h("div", { class: "source", "data-source": "huggingface" },
      field("Repository", h("input", { name: "repo_id", value: source.repo_id ?? "", placeholder: "owner/name" })),
      field("File", h("input", { name: "filename", value: source.filename ?? "", placeholder: "model.Q4_K_M.gguf" })),
      field("Revision", h("input", { name: "revision", value: source.revision ?? "main" }))),
    url: h("div", { class: "source", "data-source": "url" }, field("URL", h("input", { name: "url", type: "url", value: source.url ?? "" }))),
    local: h("div", { class: "source", "data-source": "local" }, field("Path on the agent", h("input", { name: "path", value: source.path ?? "" }), "must lie in a folder the server allows")),
  };
  const fieldset = h("fieldset", {}, h("legend", {}, "Model source"), h("div", { class: "choices" }, choice("huggingface", "Hugging Face"), choice("local", "Local path"), choice("url", "URL")), ...Object.values(groups));
  const show = () => {
    const kind = fieldset.querySelector("input[name=source_kind]:checked")?.value;
    for (const [name, group] of Object.entries(groups)) group.hidden = name !== kind;
  };
  fieldset.addEventListener("change", show);
  show();
  return fieldset;
}

function templateFields(state) {
  const editor = templateEditor("chat_template", state.chat_template_override?.content ?? "");
  const choice = (value, label, checked) => h("label", { class: "check" }, h("input", { type: "radio", name: "template_kind", value, checked }), h("span", {}, label));
  const fieldset = h("fieldset", {}, h("legend", {}, "Chat template"),
    h("div", { class: "choices" }, choice("model", "The model's own", !state.use_chat_template_override), choice("custom", "My own template", state.use_chat_template_override)),
    editor.element);
  const show = () => { editor.element.hidden = fieldset.querySelector("input[name=template_kind]:checked").value !== "custom"; };
  fieldset.addEventListener("change", show);
  show();
  return fieldset;
}

export async function showModel(main, signal) {
  const state = await getJson("management", "/api/v1/balancer_desired_state", { signal });
  const status = h("p", { role: "status", "aria-live": "polite", class: "status" });
  const form = h("form", { class: "card model-form", id: "desired-state" },
    sourceFields(sourceOf(state.model)),
    templateFields(state),
    h("fieldset", {}, h("legend", {}, "Inference parameters"), h("div", { class: "parameters" }, PARAMETERS.map((parameter) => parameterControl(parameter, state.inference_parameters[parameter[0]])))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply changes"), status));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const custom = form.elements.template_kind.value === "custom";
    const template = form.elements.chat_template.value;
    const desired = {
      chat_template_override: custom || template ? { content: template } : null,
      inference_parameters: parametersFrom(form),
      model: modelFrom(form),
      multimodal_projection: state.multimodal_projection,
      use_chat_template_override: custom,
    };
    status.className = "status";
    status.textContent = "Applying…";
    const response = await call("management", "/api/v1/balancer_desired_state", {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(desired),
    });
    if (response.ok) {
      status.textContent = "Applied; follow it on the dashboard.";
      setTimeout(() => { if (!signal.aborted) location.hash = "#/dashboard"; }, 800);
    } else {
      status.className = "status error";
      status.textContent = `Refused (${response.status}): ${await response.text()}`;
    }
  });
  main.append(h("h1", { class: "page-title" }, "Model"), h("p", { class: "muted" }, panelConfig().fleet
    ? "The desired state of every agent of the fleet: rolled out one agent at a time (its running requests finish, the others keep serving), each without a restart."
    : "The desired state of every agent: applied without a restart; requests running finish first."), form);
}
