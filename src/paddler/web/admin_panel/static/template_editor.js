// A textarea for Jinja chat templates, with the template's tags highlighted underneath it.
import { h } from "./dom.js";

const TAG = /(\{#[\s\S]*?#\}|\{%-?[\s\S]*?-?%\}|\{\{-?[\s\S]*?-?\}\})/g;

function highlight(target, text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(TAG)) {
    parts.push(text.slice(last, match.index));
    const kind = match[0].startsWith("{#") ? "comment" : match[0].startsWith("{%") ? "statement" : "expression";
    parts.push(h("span", { class: `jinja-${kind}` }, match[0]));
    last = match.index + match[0].length;
  }
  // A trailing newline keeps the last line's height when the text ends with one.
  parts.push(text.slice(last) + "\n");
  target.replaceChildren(...parts);
}

export function templateEditor(name, value) {
  const shown = h("pre", { class: "highlight", "aria-hidden": "true" });
  const input = h("textarea", { name, spellcheck: "false", rows: 12, "aria-label": "Chat template (Jinja)" });
  input.value = value;
  const update = () => {
    highlight(shown, input.value);
    shown.scrollTop = input.scrollTop;
    shown.scrollLeft = input.scrollLeft;
  };
  input.addEventListener("input", update);
  input.addEventListener("scroll", update);
  update();
  return { element: h("div", { class: "template-editor" }, shown, input), input };
}
