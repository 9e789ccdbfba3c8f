// The form that asks for a service's API key; the key is kept in this tab only (sessionStorage).
import { setKey } from "./api.js";
import { h } from "./dom.js";

export function keyForm(service, reason, onSaved) {
  const input = h("input", { type: "password", name: "key", autocomplete: "current-password", required: true, "aria-label": `${service} API key` });
  const form = h(
    "form",
    { class: "card sign-in", id: `${service}-sign-in` },
    h("h2", {}, service === "management" ? "Sign in" : "Inference key"),
    h("p", {}, reason),
    h("label", { class: "field" }, h("span", {}, `${service[0].toUpperCase()}${service.slice(1)} API key`), input),
    h("button", { type: "submit" }, "Continue"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setKey(service, input.value.trim());
    onSaved();
  });
  queueMicrotask(() => input.focus());
  return form;
}
