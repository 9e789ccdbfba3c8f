// "How to add an agent": on a balancer, a ready-to-copy command that starts an agent joining its fleet;
// on a single server, what a fleet is and where to read more.
import { getKey, panelConfig, reachableAddress } from "./api.js";
import { h, openDialog } from "./dom.js";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
// Agent n listens on these ports plus 10 n, next to the balancer's own defaults (8060 and 8061).
const INFERENCE_PORT = 8061;
const MANAGEMENT_PORT = 8060;

export function addAgentCommand(agentCount) {
  const balancer = reachableAddress(panelConfig().management);
  const balancerHost = balancer.slice(0, balancer.lastIndexOf(":"));
  // On one machine, loopback; across machines, each agent names an address the balancer reaches it at.
  const local = LOOPBACK.has(balancerHost);
  const agentHost = local ? balancerHost : "$AGENT_HOST";
  const number = agentCount + 1;
  const command = [
    "paddler serve",
    `--name agent-${number}`,
    `--inference-addr ${agentHost}:${INFERENCE_PORT + 10 * number}`,
    `--management-addr ${agentHost}:${MANAGEMENT_PORT + 10 * number}`,
    `--balancer-addr ${balancer}`,
    // The playground here calls the agents through HAProxy: they must allow this page's origin.
    `--inference-cors-allowed-origin ${location.origin}`,
  ].join(" \\\n  ");
  return local ? command : `AGENT_HOST=10.0.0.2  # this agent's address, as the balancer reaches it\n${command}`;
}

function copyButton(text) {
  const button = h("button", { type: "button", class: "copy" }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy the command";
    }
  });
  return button;
}

function fleetHelp(agentCount) {
  const command = addAgentCommand(agentCount);
  return [
    h("p", {}, "Run this where the agent should serve (the model is the default one; add --model and --slots as you need). It joins this balancer once its model is loaded, and leaves it, after finishing its requests, when stopped."),
    h("pre", { class: "code", id: "add-agent-command" }, command),
    copyButton(command),
    getKey("management")
      ? h("p", {}, "This balancer has a management key: give it to the agent in the PADDLER_BALANCER_API_KEY environment variable (never on the command line).")
      : null,
  ];
}

function singleServerHelp() {
  return [
    h("p", { class: "single-server" },
      "This is a single server. A fleet is many such servers behind one ", h("code", {}, "paddler balancer"),
      " (HAProxy carries the requests, the balancer's panel shows every agent): start each with ",
      h("code", {}, "--balancer-addr"), " naming the balancer's management address."),
    h("p", {}, "How it works and how to run it: ", h("code", {}, "docs/fleet.md"), " in Paddler's source."),
  ];
}

export function showAddAgent(agentCount) {
  openDialog("How to add an agent", ...(panelConfig().fleet ? fleetHelp(agentCount) : singleServerHelp()));
}
