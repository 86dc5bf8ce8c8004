// Live updates for the console pages: the fleet's link and connector states from the
// server-sent event stream. The pages read fine without this script.
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var badge = document.getElementById("live");
  var source = new EventSource("/console/events");
  function each(selector, update) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), update);
  }
  source.addEventListener("fleet", function (message) {
    JSON.parse(message.data).forEach(function (charger) {
      each('[data-live="online:' + charger.id + '"]', function (el) {
        el.textContent = charger.online ? "online" : "offline";
        el.className = charger.online ? "ok" : "bad";
      });
      charger.connectors.forEach(function (connector) {
        each('[data-live="status:' + charger.id + ":" + connector.id + '"]', function (el) {
          el.textContent = connector.status;
        });
      });
    });
    if (badge) { badge.textContent = "live " + new Date().toLocaleTimeString(); }
  });
  source.onerror = function () { if (badge) { badge.textContent = "reconnecting"; } };
})();
