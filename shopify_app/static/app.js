// The embedded admin page: App Bridge session tokens authenticate every call to our JSON API.
(function () {
  "use strict";

  var body = document.body;
  var shop = body.dataset.shop;
  var api = body.dataset.api;
  var RUNNING = { queued: true, running: true };
  var STATUS_TEXT = {
    none: "No brand extracted yet.",
    queued: "Extraction queued…",
    running: "Extracting your brand from your store's primary domain…",
    completed: "Brand extracted.",
    failed: "Extraction failed."
  };
  var BADGE_TEXT = { none: "Not extracted", queued: "Queued", running: "Extracting",
                     completed: "Extracted", failed: "Failed" };
  var REEXTRACTING = "Re-extracting after domain change";
  var pollTimer = null;

  function $(id) { return document.getElementById(id); }

  function sessionToken() {
    if (!window.shopify || typeof window.shopify.idToken !== "function") {
      return Promise.reject(new Error("App Bridge did not load; open the app from Shopify admin."));
    }
    return window.shopify.idToken();
  }

  function call(method, path) {
    return sessionToken().then(function (token) {
      return fetch(api + path + "?shop=" + encodeURIComponent(shop), {
        method: method,
        headers: { Authorization: "Bearer " + token, Accept: "application/json" }
      });
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        return { status: res.status, data: data };
      });
    });
  }

  function errorCode(result) {
    return result.data && result.data.error ? result.data.error.code : null;
  }

  function errorMessage(result) {
    if (result.data && result.data.error && result.data.error.message) {
      return result.data.error.message;
    }
    return "The app could not be reached (HTTP " + result.status + ").";
  }

  function safeHex(value) {
    return typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value) ? value : null;
  }

  function showProblem(message) {
    $("spinner").hidden = true;
    $("status-text").textContent = message;
    $("badge").textContent = "Error";
    $("badge").className = "badge failed";
  }

  function setSwatch(which, value) {
    var hex = safeHex(value);
    $("swatch-" + which).style.backgroundColor = hex || "transparent";
    $("hex-" + which).textContent = hex || "—";
  }

  // The store's primary domain moved: a brand from the old one exists, a new one is coming.
  function movedDomain(view, running) {
    return running && view.domain_change && view.source_domain ? view.domain_change : null;
  }

  function render(view) {
    var status = view.status || "none";
    var running = !!RUNNING[status];
    var moved = movedDomain(view, running);
    $("badge").textContent = moved ? "Re-extracting" : (BADGE_TEXT[status] || status);
    $("badge").className = "badge " + status;
    $("spinner").hidden = !running;
    $("status-text").textContent = moved
      ? REEXTRACTING + " (" + view.source_domain + " \u2192 " + moved + ")\u2026"
      : (STATUS_TEXT[status] || status);

    var hasBrand = !!view.brand_id;
    $("brand").hidden = !hasBrand;
    if (hasBrand) {
      $("brand-name").textContent = view.brand_name || "Unnamed brand";
      $("brand-domain").textContent = view.domain || "";
      $("brand-source").textContent = view.source_domain
        ? "Extracted from your store at " + view.source_domain : "";
      $("brand-id").textContent = view.brand_id;
      setSwatch("primary", view.primary_hex);
      setSwatch("secondary", view.secondary_hex);
      var logo = $("logo");
      if (typeof view.logo_url === "string" && /^https?:\/\//.test(view.logo_url)) {
        logo.src = view.logo_url;
        logo.alt = (view.brand_name || "Brand") + " logo";
        logo.hidden = false;
      } else {
        logo.hidden = true;
      }
    }
    $("error").hidden = !(status === "failed" && view.error);
    $("error-text").textContent = view.error || "";
    $("metafield-error").hidden = !view.metafield_error;
    $("metafield-error").textContent = view.metafield_error
      ? "The theme metafield could not be saved: " + view.metafield_error : "";
    $("extracted-at").textContent = view.last_extracted_at
      ? "Last extracted " + new Date(view.last_extracted_at).toLocaleString() : "";
    $("refresh").disabled = running;

    clearTimeout(pollTimer);
    if (running) { pollTimer = setTimeout(load, 1000); }
  }

  function load() {
    return call("GET", "/brand").then(function (result) {
      if (result.status === 401 && errorCode(result) === "shop_not_installed") {
        // First visit after a managed install: trade the session token for an offline token.
        return call("POST", "/session").then(function (session) {
          if (session.status >= 400) { throw new Error(errorMessage(session)); }
          return call("GET", "/brand");
        });
      }
      return result;
    }).then(function (result) {
      if (result.status !== 200) { throw new Error(errorMessage(result)); }
      render(result.data);
    }).catch(function (err) { showProblem(err.message); });
  }

  $("refresh").addEventListener("click", function () {
    $("refresh").disabled = true;
    call("POST", "/brand/refresh").then(function (result) {
      if (result.status !== 202) { throw new Error(errorMessage(result)); }
      render(result.data);
    }).catch(function (err) { showProblem(err.message); $("refresh").disabled = false; });
  });

  load();
})();
