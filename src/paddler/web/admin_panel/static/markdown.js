// A small Markdown renderer that builds DOM nodes (text is never parsed as HTML): paragraphs, headings,
// lists, block quotes, fenced code, inline code, bold, italics and http(s) links. Unfinished syntax in
// a streaming answer simply shows as text until it is closed.
import { h } from "./dom.js";

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*|_[^_\n]+_)|(\[[^\]\n]+\]\([^)\s]+\))/g;

function inline(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    nodes.push(text.slice(last, match.index));
    const [token, code, strong, emphasis, link] = match;
    if (code) nodes.push(h("code", {}, code.slice(1, -1)));
    else if (strong) nodes.push(h("strong", {}, inline(strong.slice(2, -2))));
    else if (emphasis) nodes.push(h("em", {}, inline(emphasis.slice(1, -1))));
    else if (link) {
      const [, label, target] = link.match(/^\[([^\]]+)\]\(([^)]+)\)$/);
      nodes.push(/^https?:\/\//i.test(target) ? h("a", { href: target, target: "_blank", rel: "noopener noreferrer" }, label) : token);
    }
    last = match.index + token.length;
  }
  nodes.push(text.slice(last));
  return nodes;
}

export function renderMarkdown(source) {
  const blocks = [];
  const lines = source.split("\n");
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) blocks.push(h("p", {}, inline(paragraph.join(" "))));
    paragraph = [];
    list = null;
  };
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index];
    const fence = line.match(/^```\s*([\w+-]*)/);
    if (fence) {
      flush();
      const code = [];
      for (index += 1; index < lines.length && !lines[index].startsWith("```"); index += 1) code.push(lines[index]);
      blocks.push(h("pre", { class: "code" }, h("code", { "data-language": fence[1] || null }, code.join("\n"))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
    if (heading) {
      flush();
      blocks.push(h(`h${Math.min(6, heading[1].length + 2)}`, {}, inline(heading[2])));
    } else if (item) {
      if (paragraph.length) { blocks.push(h("p", {}, inline(paragraph.join(" ")))); paragraph = []; }
      const ordered = /\d/.test(item[1]);
      if (!list || list.ordered !== ordered) {
        list = { ordered, element: h(ordered ? "ol" : "ul") };
        blocks.push(list.element);
      }
      list.element.append(h("li", {}, inline(item[2])));
    } else if (line.startsWith(">")) {
      flush();
      blocks.push(h("blockquote", {}, inline(line.replace(/^>\s?/, ""))));
    } else if (line.trim() === "") {
      flush();
    } else {
      list = null;
      paragraph.push(line.trim());
    }
  }
  flush();
  return blocks;
}
