// The embeddings tester: several documents embedded through Paddler's batch route with the chosen
// normalization, and their cosine similarities drawn as a heatmap.
import { AuthError, postJson, readLines } from "./api.js";
import { field, formatNumber, h, svg } from "./dom.js";
import { keyForm } from "./key_form.js";

const EXAMPLES = ["The cat sat on the mat.", "A kitten was sitting on the rug.", "Stock markets fell sharply today."];
const CELL = 56;

function cosine(left, right) {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let index = 0; index < left.length; index += 1) {
    dot += left[index] * right[index];
    leftNorm += left[index] ** 2;
    rightNorm += right[index] ** 2;
  }
  return leftNorm && rightNorm ? dot / Math.sqrt(leftNorm * rightNorm) : 0;
}

function heatmap(labels, vectors) {
  const count = labels.length;
  const size = CELL * (count + 1);
  const figure = svg("svg", { viewBox: `0 0 ${size} ${size}`, role: "img", "aria-label": "Cosine similarity of each pair of documents", class: "heatmap" });
  labels.forEach((label, index) => {
    figure.append(svg("text", { x: CELL * (index + 1.5), y: CELL * 0.6, "text-anchor": "middle", class: "tick" }, label));
    figure.append(svg("text", { x: CELL * 0.5, y: CELL * (index + 1.6), "text-anchor": "middle", class: "tick" }, label));
  });
  const rows = [];
  for (let row = 0; row < count; row += 1) {
    const values = [];
    for (let column = 0; column < count; column += 1) {
      const similarity = cosine(vectors[row], vectors[column]);
      values.push(similarity);
      // Light for unrelated (0 or below), strong for identical (1).
      const strength = Math.max(0, similarity);
      figure.append(
        svg("rect", { x: CELL * (column + 1), y: CELL * (row + 1), width: CELL - 2, height: CELL - 2, rx: 4, class: "cell", "fill-opacity": (0.1 + 0.9 * strength).toFixed(3), "data-similarity": similarity.toFixed(4) },
          svg("title", {}, `${labels[row]} · ${labels[column]}: ${similarity.toFixed(3)}`)),
        svg("text", { x: CELL * (column + 1.5) - 1, y: CELL * (row + 1.55), "text-anchor": "middle", class: strength > 0.55 ? "value strong" : "value" }, similarity.toFixed(2)),
      );
    }
    rows.push(values);
  }
  return figure;
}

async function embed(documents, normalization) {
  const method = normalization === "RmsNorm" ? { RmsNorm: { epsilon: 1e-6 } } : normalization;
  const response = await postJson("inference", "/api/v1/generate_embedding_batch", {
    input_batch: documents.map((content, index) => ({ id: String(index), content })),
    normalization_method: method,
  });
  if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);
  const vectors = new Array(documents.length).fill(null);
  const problems = [];
  await readLines(response, (line) => {
    if (!line.trim()) return;
    const envelope = JSON.parse(line);
    if (envelope.Error) { problems.push(envelope.Error.description ?? JSON.stringify(envelope.Error)); return; }
    const result = envelope.Response?.response?.Embedding;
    if (result?.Embedding) vectors[Number(result.Embedding.source_document_id)] = result.Embedding.embedding;
    else if (result && result !== "Done") problems.push(typeof result === "string" ? result : JSON.stringify(result));
  });
  return { vectors, problems };
}

function documentInput(value) {
  const row = h("li", { class: "document" },
    h("textarea", { rows: 2, "aria-label": "Document", class: "document-text" }, value),
    h("button", { type: "button", class: "secondary", onclick: () => row.remove() }, "Remove"));
  return row;
}

export function showEmbeddings(main, signal) {
  const list = h("ol", { class: "documents" }, EXAMPLES.map(documentInput));
  const normalization = h("select", { name: "normalization" }, ["L2", "None", "RmsNorm"].map((choice) => h("option", { value: choice }, choice)));
  const output = h("div", { class: "embedding-output", "aria-live": "polite" });
  const run = h("button", { type: "submit" }, "Embed and compare");
  const form = h("form", { class: "card", id: "embeddings-form" },
    list,
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => list.append(documentInput("")) }, "Add document"), field("Normalization", normalization), run));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const documents = [...list.querySelectorAll("textarea")].map((area) => area.value);
    if (documents.length < 2) { output.replaceChildren(h("p", { class: "error" }, "Add at least two documents.")); return; }
    run.disabled = true;
    output.replaceChildren(h("p", { class: "muted" }, "Embedding…"));
    try {
      const { vectors, problems } = await embed(documents, normalization.value);
      if (signal.aborted) return;
      const kept = vectors.map((vector, index) => [index, vector]).filter(([, vector]) => vector);
      const labels = kept.map(([index]) => `#${index + 1}`);
      output.replaceChildren(
        problems.length ? h("p", { class: "error", role: "alert" }, problems.join("; ")) : null,
        kept.length ? h("p", { class: "muted" }, `${kept.length} vectors of ${kept[0][1].length} dimensions; norm of #1: ${formatNumber(Math.hypot(...kept[0][1]), 3)}`) : null,
        kept.length ? heatmap(labels, kept.map(([, vector]) => vector)) : null,
      );
    } catch (error) {
      if (error instanceof AuthError) {
        main.replaceChildren(keyForm("inference", "The inference service has an API key. Enter it to embed; it is kept in this tab only.", () => { main.replaceChildren(); showEmbeddings(main, signal); }));
        return;
      }
      output.replaceChildren(h("p", { class: "error", role: "alert" }, `Error: ${error.message}`));
    } finally {
      run.disabled = false;
    }
  });
  main.append(h("h1", { class: "page-title" }, "Embeddings"), h("p", { class: "muted" }, "Needs a server started with embeddings on (--enable-embeddings, or on the Model page)."), form, h("section", { class: "card" }, h("h2", {}, "Cosine similarity"), output));
}
