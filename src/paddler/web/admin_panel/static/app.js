import { AuthError, getJson, loadConfig, onAuthNeeded, setKey, signedIn } from "./api.js";
import { h } from "./dom.js";
import { keyForm } from "./key_form.js";
import { showDashboard } from "./dashboard.js";
import { showEmbeddings } from "./embeddings.js";
import { showModel } from "./model_page.js";
import { showPlayground } from "./playground.js";

const PAGES = { dashboard: showDashboard, model: showModel, playground: showPlayground, embeddings: showEmbeddings };
const main = document.getElementById("main");
const signOut = document.getElementById("sign-out");
let running = null;

function pageName() {
  const name = location.hash.replace(/^#\/?/, "");
  return name in PAGES ? name : "dashboard";
}

function showSignIn(error) {
  running?.abort();
  const reason = error?.status === 403
    ? "That key was refused. Enter the management API key this server was started with."
    : "This server's management service has an API key. Enter it to see and change the server; it is kept in this tab only.";
  main.replaceChildren(keyForm("management", reason, render));
}

async function render() {
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const name = pageName();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  signOut.hidden = !signedIn();
  try {
    // Nothing is drawn before the management service lets us read it.
    await getJson("management", "/api/v1/agents", { signal: controller.signal });
  } catch (error) {
    if (error instanceof AuthError) return showSignIn(error);
    if (controller.signal.aborted) return;
    main.replaceChildren(h("p", { class: "error", role: "alert" }, `The management service does not answer (${error.message}); retrying…`));
    setTimeout(() => { if (running === controller) render(); }, 2000);
    return;
  }
  if (controller.signal.aborted) return;
  main.replaceChildren();
  PAGES[name](main, controller.signal);
}

onAuthNeeded((error) => {
  if (error.service === "management") showSignIn(error);
});
signOut.addEventListener("click", () => {
  setKey("management", "");
  setKey("inference", "");
  render();
});
window.addEventListener("hashchange", render);
await loadConfig();
render();
