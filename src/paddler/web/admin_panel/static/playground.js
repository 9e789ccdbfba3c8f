// A multi-turn chat over the OpenAI API's streamed chat completions: editable system prompt and
// sampling, a thinking switch, a JSON-schema mode, a tool-call mode, a stop button, Markdown answers
// with reasoning and tool calls shown apart, and the usage of each answer.
import { AuthError, getJson, postJson, readLines } from "./api.js";
import { field, formatNumber, h } from "./dom.js";
import { keyForm } from "./key_form.js";
import { renderMarkdown } from "./markdown.js";

const history = [];

function settingsForm() {
  const number = (name, value, step) => h("input", { type: "number", name, value, step, inputmode: "decimal" });
  return h("form", { class: "card settings", id: "playground-settings" },
    field("System prompt", h("textarea", { name: "system", rows: 3 }, "You are a helpful assistant.")),
    h("div", { class: "parameters" },
      field("Temperature", number("temperature", "0.7", "0.05")),
      field("Top p", number("top_p", "1", "0.05")),
      field("Max tokens", number("max_tokens", "256", "1")),
      field("Seed", h("input", { type: "number", name: "seed", placeholder: "random", step: 1 }))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "thinking", checked: true }), " Think before answering (for models that reason)"),
    h("details", {}, h("summary", {}, "Answer as JSON (schema)"),
      field("JSON Schema", h("textarea", { name: "schema", rows: 4, spellcheck: "false", placeholder: '{"type": "object", "properties": {"answer": {"type": "string"}}}' }), "leave empty for free text")),
    h("details", {}, h("summary", {}, "Offer tools (calls)"),
      field("Tools (OpenAI's tools array)", h("textarea", { name: "tools", rows: 5, spellcheck: "false", placeholder: TOOLS_EXAMPLE }), "leave empty for no tools"),
      field("Tool choice", h("select", { name: "tool_choice" }, h("option", { value: "auto" }, "auto: the model decides"), h("option", { value: "required" }, "required: always call a tool")))));
}

const TOOLS_EXAMPLE = '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]';

function readSettings(form) {
  const number = (name) => (form.elements[name].value === "" ? undefined : Number(form.elements[name].value));
  const body = { temperature: number("temperature"), top_p: number("top_p"), max_tokens: number("max_tokens"), seed: number("seed") };
  const schema = form.elements.schema.value.trim();
  if (schema) body.response_format = { type: "json_schema", json_schema: { name: "answer", schema: JSON.parse(schema) } };
  const tools = form.elements.tools.value.trim();
  if (tools) {
    body.tools = JSON.parse(tools);
    body.tool_choice = form.elements.tool_choice.value;
  }
  body.chat_template_kwargs = { enable_thinking: form.elements.thinking.checked };
  return { system: form.elements.system.value, body };
}

function usageLine(usage, seconds) {
  const generated = usage.completion_tokens;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens ?? 0;
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  return h("p", { class: "usage", "data-cached-tokens": cached, "data-prompt-tokens": usage.prompt_tokens },
    `prompt ${usage.prompt_tokens} · cached ${cached} · reasoning ${reasoning} · content ${generated - reasoning} · ${formatNumber(seconds > 0 ? generated / seconds : null, 1)} tokens/s`);
}

function messageView(role, text) {
  return h("div", { class: `message ${role}` }, h("span", { class: "role" }, role), h("div", { class: "content" }, role === "assistant" ? renderMarkdown(text) : h("p", { class: "plain" }, text)));
}

async function streamAnswer(messages, settings, view, signal) {
  const reasoningBody = h("div", { class: "reasoning-text" });
  const reasoning = h("details", { class: "reasoning", hidden: true }, h("summary", {}, "Reasoning"), reasoningBody);
  const content = h("div", { class: "content answer" });
  const calls = h("ul", { class: "tool-calls", hidden: true });
  view.append(reasoning, content, calls);
  const called = [];
  let text = "";
  let thought = "";
  let usage = null;
  let firstAt = null;
  const started = performance.now();
  // The OpenAI API names the served model; it is asked each time, as a desired state may change it.
  const model = (await getJson("inference", "/v1/models", { signal })).data[0].id;
  const response = await postJson("inference", "/v1/chat/completions", { ...settings.body, model, messages, stream: true, stream_options: { include_usage: true } }, signal);
  if (!response.ok) throw new Error((await response.json().catch(() => null))?.error?.message ?? `HTTP ${response.status}`);
  await readLines(response, (line) => {
    if (!line.startsWith("data:") || line.includes("[DONE]")) return;
    const chunk = JSON.parse(line.slice(5));
    if (chunk.error) throw new Error(chunk.error.message);
    if (chunk.usage) usage = chunk.usage;
    const delta = chunk.choices?.[0]?.delta ?? {};
    if (delta.content || delta.reasoning_content) firstAt ??= performance.now();
    if (delta.reasoning_content) {
      thought += delta.reasoning_content;
      reasoning.hidden = false;
      reasoningBody.replaceChildren(...renderMarkdown(thought));
    }
    if (delta.content) {
      text += delta.content;
      content.replaceChildren(...renderMarkdown(text));
    }
    for (const part of delta.tool_calls ?? []) {
      const call = (called[part.index] ??= { id: part.id, type: "function", function: { name: "", arguments: "" } });
      call.function.name += part.function?.name ?? "";
      call.function.arguments += part.function?.arguments ?? "";
      calls.hidden = false;
      calls.replaceChildren(...called.map((one) => h("li", { class: "tool-call", "data-name": one.function.name }, h("code", {}, `${one.function.name}(${one.function.arguments})`))));
    }
  });
  view.dataset.done = "true";
  if (usage) view.append(usageLine(usage, ((performance.now() - (firstAt ?? started)) / 1000)));
  return { text, calls: called };
}

export function showPlayground(main, signal) {
  const settings = settingsForm();
  const log = h("div", { class: "chat-log", "aria-live": "polite", id: "chat-log" }, history.map((message) => messageView(message.role, message.content)));
  const prompt = h("textarea", { name: "prompt", rows: 3, placeholder: "Ask something… (Ctrl+Enter sends)", "aria-label": "Message" });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", disabled: true }, "Stop");
  const clear = h("button", { type: "button", class: "secondary" }, "New chat");
  const composer = h("form", { class: "composer" }, prompt, h("div", { class: "actions" }, send, stop, clear));
  let running = null;
  signal.addEventListener("abort", () => running?.abort());

  async function ask(question) {
    const chosen = readSettings(settings);
    history.push({ role: "user", content: question });
    log.append(messageView("user", question));
    const answer = h("div", { class: "message assistant" }, h("span", { class: "role" }, "assistant"));
    log.append(answer);
    running = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    const messages = [...(chosen.system.trim() ? [{ role: "system", content: chosen.system }] : []), ...history];
    try {
      const { text, calls } = await streamAnswer(messages, chosen, answer, running.signal);
      // A call stays in the conversation as the model made it; the next turn may answer it.
      history.push(calls.length ? { role: "assistant", content: text, tool_calls: calls } : { role: "assistant", content: text });
    } catch (error) {
      if (error instanceof AuthError) {
        history.pop();
        main.replaceChildren(keyForm("inference", "The inference service has an API key. Enter it to chat; it is kept in this tab only.", () => { main.replaceChildren(); showPlayground(main, signal); }));
        return;
      }
      const stopped = running.signal.aborted;
      answer.append(h("p", { class: stopped ? "muted" : "error", role: stopped ? null : "alert" }, stopped ? "Stopped." : `Error: ${error.message}`));
      answer.dataset.done = "true";
      const partial = answer.querySelector(".answer")?.textContent ?? "";
      if (partial) history.push({ role: "assistant", content: partial });
      else history.pop();
    } finally {
      send.disabled = false;
      stop.disabled = true;
      running = null;
    }
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = prompt.value.trim();
    if (!question || running) return;
    prompt.value = "";
    ask(question);
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) composer.requestSubmit();
  });
  stop.addEventListener("click", () => running?.abort());
  clear.addEventListener("click", () => { history.length = 0; log.replaceChildren(); });
  main.append(h("h1", { class: "page-title" }, "Playground"), settings, h("section", { class: "card chat" }, log, composer));
}
