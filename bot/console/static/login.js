// NIP-98 log-in with a NIP-07 signer (window.nostr): sign a kind 27235 event for
// POST /console/login and send it in the Authorization header. Without a signer the
// form below takes a signed event pasted by hand.
(function () {
  "use strict";
  var form = document.getElementById("login");
  var button = document.getElementById("nip07");
  var note = document.getElementById("login-msg");
  function base64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return btoa(binary);
  }
  async function logIn() {
    note.textContent = "asking your signer...";
    try {
      var event = await window.nostr.signEvent({
        kind: 27235,
        created_at: Math.floor(Date.now() / 1000),
        tags: [["u", form.dataset.loginUrl], ["method", "POST"]],
        content: ""
      });
      var answer = await fetch("/console/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Authorization": "Nostr " + base64(JSON.stringify(event)) }
      });
      var body = await answer.json();
      if (answer.ok) {
        note.textContent = "logged in as " + body.operator;
        window.location.assign(form.dataset.next || "/console");
      } else {
        note.textContent = body.error;
      }
    } catch (error) {
      note.textContent = "not logged in: " + error;
    }
  }
  function offer() {
    if (window.nostr && button.hidden) {
      button.hidden = false;
      button.addEventListener("click", logIn);
    }
  }
  offer();
  // Extensions may add window.nostr a moment after the page loaded.
  window.setTimeout(offer, 300);
  window.setTimeout(offer, 1500);
})();
