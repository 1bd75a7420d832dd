// The tokens view: my API tokens (name, created, last used; never their secrets), revoking
// one, and creating one whose secret is shown once, for scripts and `q8s-cli config setup
// --token`.

import { announce, errorBox, formatTime, h, replace } from "./dom.js";

const $ = (id) => document.getElementById(id);

export class Tokens {
  /**
   * @param {object} o
   * @param {import("./pkg/q8s_wasm.js").Client} o.client
   * @param {() => (object|null)} o.me the signed-in user, or null
   */
  constructor({ client, me }) {
    this.client = client;
    this.me = me;
    this.visible = false;
    this.loading = null;
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#create();
    });
  }

  /** The view was shown or hidden (it loads each time it is shown). */
  setVisible(visible) {
    this.visible = visible;
    if (visible) this.refresh();
  }

  async refresh() {
    const signedIn = Boolean(this.me());
    $("token-form").hidden = !signedIn;
    if (!signedIn) {
      replace($("token-created"));
      replace($("tokens-body"), h("p", { class: "muted" }, h("a", { href: "/login?next=/" }, "Sign in"), " to see your tokens."));
      return;
    }
    const load = this.client.tokens(false);
    this.loading = load;
    let tokens;
    try {
      tokens = await load;
    } catch (err) {
      if (this.loading === load) replace($("tokens-body"), errorBox("Your tokens could not be loaded", err));
      return;
    }
    if (this.loading !== load) return; // a newer refresh is on its way
    this.#render(tokens);
  }

  #render(tokens) {
    if (tokens.length === 0) {
      replace($("tokens-body"), h("p", { class: "empty" }, "You have no API tokens."));
      return;
    }
    replace($("tokens-body"),
      h("table", { class: "tokens-table", "data-testid": "token-list" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Created"),
          h("th", { scope: "col" }, "Last used"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        h("tbody", {}, tokens.map((token) => this.#row(token)))));
  }

  #row(token) {
    const error = h("div", { class: "card-error" });
    const revoke = h("button", {
      type: "button", class: "button small danger", "data-testid": "token-revoke", "aria-label": `Revoke token ${token.name}`,
      onclick: async (event) => {
        const button = event.currentTarget;
        if (button.dataset.confirm !== "yes") {
          // Whoever holds the token is signed out: the first press only asks.
          button.dataset.confirm = "yes";
          button.textContent = "Really revoke?";
          setTimeout(() => { button.dataset.confirm = ""; button.textContent = "Revoke"; }, 5000);
          return;
        }
        replace(error);
        try {
          await this.client.revokeToken(token.id);
        } catch (err) {
          replace(error, errorBox("The token could not be revoked", err));
          return;
        }
        announce(`Revoked token ${token.name}.`);
        await this.refresh();
      },
    }, "Revoke");
    return h("tr", { "data-testid": "token", dataset: { tokenId: token.id } },
      h("td", { "data-testid": "token-name" }, token.name),
      h("td", {}, h("time", { datetime: token.created_at }, formatTime(token.created_at))),
      h("td", { "data-testid": "token-last-used" },
        token.last_used_at ? h("time", { datetime: token.last_used_at }, formatTime(token.last_used_at)) : "never"),
      h("td", { class: "token-actions" }, revoke, error));
  }

  async #create() {
    const input = $("token-name-input");
    const name = input.value.trim();
    replace($("token-created"));
    let created;
    try {
      created = await this.client.createToken(name || null);
    } catch (err) {
      replace($("token-created"), errorBox("The token could not be created", err));
      return;
    }
    input.value = "";
    const value = h("code", { "data-testid": "token-value" }, created.token);
    replace($("token-created"),
      h("div", { class: "token-created", role: "status", "data-testid": "token-created", dataset: { tokenId: created.id } },
        h("p", {}, "Token ", h("strong", {}, created.name), " created. Copy it now: it is shown this once."),
        h("p", { class: "token-secret" }, value,
          h("button", {
            type: "button", class: "button small", "data-testid": "token-copy",
            onclick: () => navigator.clipboard?.writeText(created.token).then(() => announce("Token copied.")),
          }, "Copy")),
        h("p", { class: "muted small" }, "Use it as ", h("code", {}, "Authorization: Bearer <token>"),
          ", or sign in with it: ", h("code", {}, "q8s-cli config setup --token <token>"), ".")));
    announce(`Created token ${created.name}.`);
    await this.refresh();
  }
}
