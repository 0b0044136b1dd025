// Inside Airflow's UI the page is an iframe sandboxed without allow-top-navigation: a plain link
// (target=_top included) cannot leave it, and window.top.location is refused. The sandbox does
// allow scripts and the same origin, so links to Airflow pages move Airflow's own client-side
// router instead: push the URL onto the parent's history and tell its router (a popstate event),
// exactly what the browser's Back button does. Opened on its own, links work as plain links.
(function () {
  "use strict";
  var airflow = null;
  try {
    if (window.parent !== window && window.parent.location.origin === window.location.origin) {
      airflow = window.parent;
    }
  } catch (error) {
    airflow = null; // another origin: leave links alone
  }

  function openInAirflow(url) {
    var history = airflow.history;
    var state = history.state || {};
    var key = Math.random().toString(36).slice(2, 10);
    history.pushState({ usr: null, key: key, idx: (state.idx || 0) + 1 }, "", url);
    airflow.dispatchEvent(new PopStateEvent("popstate", { state: history.state }));
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.airflow-link") : null;
    if (!link || !airflow || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openInAirflow(link.getAttribute("href"));
  });

  // Airflow's colours and fonts, light or dark: the values of the same tokens in the parent page.
  function adoptAirflowTheme() {
    if (!airflow) return;
    var ours = document.documentElement.style;
    var theirs = airflow.getComputedStyle(airflow.document.documentElement);
    var root = document.styleSheets[0] && document.styleSheets[0].cssRules[0];
    if (!root || !root.style) return;
    for (var i = 0; i < root.style.length; i++) {
      var name = root.style[i];
      var value = theirs.getPropertyValue(name).trim();
      if (name.indexOf("--chakra-") === 0 && value) ours.setProperty(name, value);
    }
    var dark = airflow.document.documentElement.classList.contains("dark");
    ours.setProperty("color-scheme", dark ? "dark" : "light");
    document.documentElement.classList.toggle("dark", dark);
  }
  adoptAirflowTheme();
  if (airflow && window.MutationObserver) {
    new MutationObserver(adoptAirflowTheme).observe(airflow.document.documentElement, {
      attributes: true,
      attributeFilter: ["class", "style"],
    });
  }
})();
