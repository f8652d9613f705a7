/* Relance storefront tracker. No dependencies; served by Relance at /t/<tenant>.js.
 *
 * Sends page_viewed, product_viewed, category_viewed, cart_updated, identify and
 * newsletter_subscribed to Relance with a first-party anonymous id. Honours Do Not
 * Track / Global Privacy Control (unless the shop turned that off) and, when the
 * shop requires consent, sends and stores nothing until relance("consent", true).
 *
 * Page API (calls made before the script loads are queued):
 *   window.relance = window.relance || function () { (relance.q = relance.q || []).push(arguments); };
 *   relance("consent", true | false);
 *   relance("identify", {email: "...", first_name: "..."});
 *   relance("product", {product_id: "42", name: "...", price: "12.50", currency: "EUR"});
 *   relance("category", {category: "Teas"});
 *   relance("cart", {cart_id: "...", currency: "EUR", total: "25.00", items: [...]});
 *   relance("newsletter", {email: "...", list: "footer"});
 *   relance("track", "page_viewed", {url: "...", title: "..."});
 */
(function (w, d) {
  "use strict";
  var C = /*RELANCE_CONFIG*/ {};
  if (w.__relanceTracker) return;
  w.__relanceTracker = true;

  var COOKIE = "_relance_id";
  var EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
  var consent = C.requireConsent ? null : true; // null: not decided yet
  var held = []; // events waiting for consent
  var outbox = [];
  var timer = null;
  var seq = 0;
  var lastEmail = null;
  var lastCart = null;

  function dnt() {
    if (!C.respectDnt) return false;
    var n = w.navigator || {};
    return n.doNotTrack === "1" || n.doNotTrack === "yes" || w.doNotTrack === "1" ||
      n.msDoNotTrack === "1" || n.globalPrivacyControl === true;
  }

  function readCookie(name) {
    var parts = ("; " + d.cookie).split("; " + name + "=");
    return parts.length > 1 ? parts.pop().split(";")[0] : null;
  }

  function newId() {
    var bytes = new Uint8Array(16), out = "", i;
    (w.crypto || w.msCrypto).getRandomValues(bytes);
    for (i = 0; i < bytes.length; i++) out += (bytes[i] + 256).toString(16).slice(1);
    return out;
  }

  function anonymousId() {
    var id = readCookie(COOKIE);
    if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) id = newId();
    d.cookie = COOKIE + "=" + id + "; Max-Age=" + (C.cookieDays * 86400) + "; Path=/; SameSite=Lax" +
      (w.location.protocol === "https:" ? "; Secure" : "");
    return id;
  }

  function flush() {
    timer = null;
    if (!outbox.length) return;
    var batch = outbox.splice(0, 50);
    var body = JSON.stringify({ key: C.key, anonymous_id: anonymousId(), events: batch });
    try {
      // text/plain keeps this a simple CORS request (no preflight); keepalive lets it outlive the page.
      w.fetch(C.endpoint, { method: "POST", body: body, keepalive: body.length < 60000, mode: "cors",
        credentials: "omit", headers: { "Content-Type": "text/plain;charset=UTF-8" } })["catch"](function () {});
    } catch (e) { /* an old browser: no tracking */ }
    if (outbox.length) flush();
  }

  function send(evt) {
    if (dnt() || consent === false) return;
    evt.id = (Date.now()).toString(36) + "-" + (++seq);
    if (consent === null) { held.push(evt); return; }
    outbox.push(evt);
    if (!timer) timer = w.setTimeout(flush, 50);
  }

  function track(name, properties) { send({ event: name, properties: properties || {} }); }

  function identify(contact) {
    if (!contact || !contact.email || !EMAIL_RE.test(String(contact.email).trim())) return;
    var email = String(contact.email).trim().toLowerCase();
    if (email === lastEmail && !contact.force) return;
    lastEmail = email;
    var c = { email: email }, k;
    for (k in { first_name: 1, last_name: 1, phone: 1 }) if (contact[k]) c[k] = String(contact[k]);
    send({ type: "identify", contact: c });
  }

  function setConsent(value) {
    consent = !!value;
    var waiting = held; held = [];
    if (consent) for (var i = 0; i < waiting.length; i++) { outbox.push(waiting[i]); }
    if (consent && outbox.length && !timer) timer = w.setTimeout(flush, 0);
  }

  // Money from WooCommerce's Store API comes in minor units as strings ("1850", 2) -> "18.50".
  function minor(value, unit) {
    var s = String(value || "0"), neg = s.charAt(0) === "-";
    if (neg) s = s.slice(1);
    unit = unit || 0;
    while (s.length <= unit) s = "0" + s;
    return (neg ? "-" : "") + (unit ? s.slice(0, s.length - unit) + "." + s.slice(s.length - unit) : s);
  }

  function restRoot() {
    var link = d.querySelector('link[rel="https://api.w.org/"]');
    return link ? link.getAttribute("href") : w.location.origin + "/wp-json/";
  }

  function refreshWooCart() {
    if (!w.fetch || dnt() || consent === false) return;
    w.fetch(restRoot() + "wc/store/v1/cart", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (cart) {
        if (!cart || !cart.totals) return;
        var t = cart.totals, items = [], i, it, p;
        for (i = 0; i < (cart.items || []).length; i++) {
          it = cart.items[i]; p = it.prices || {};
          items.push({ product_id: String(it.id), sku: it.sku || null, name: it.name, quantity: it.quantity,
            price: minor(p.price, p.currency_minor_unit), url: it.permalink || null,
            image_url: (it.images && it.images[0] && it.images[0].src) || null });
        }
        var props = { currency: t.currency_code, total: minor(t.total_price, t.currency_minor_unit), items: items };
        var signature = JSON.stringify(props);
        var seen = null;
        try { seen = w.sessionStorage.getItem("_relance_cart"); } catch (e) { seen = lastCart; }
        if (signature !== seen && (items.length || seen)) {
          track("cart_updated", props);
          try { w.sessionStorage.setItem("_relance_cart", signature); } catch (e) { lastCart = signature; }
        }
        var billing = cart.billing_address || {};
        if (billing.email) identify({ email: billing.email, first_name: billing.first_name, last_name: billing.last_name });
      })["catch"](function () {});
  }

  function text(selector) {
    var el = d.querySelector(selector);
    return el ? (el.textContent || "").replace(/\s+/g, " ").trim() || null : null;
  }

  function decoded(value) {
    if (typeof value !== "string" || !value) return null;
    var t = d.createElement("textarea");
    t.innerHTML = value;
    return t.value.replace(/\s+/g, " ").trim() || null;
  }

  // The product a WooCommerce page is about, from its structured data (schema.org Product in
  // JSON-LD, which WooCommerce prints on every product page, classic or block theme).
  function structuredProduct() {
    var scripts = d.querySelectorAll('script[type="application/ld+json"]'), i, j, data, nodes;
    for (i = 0; i < scripts.length; i++) {
      try { data = JSON.parse(scripts[i].textContent || "null"); } catch (e) { continue; }
      nodes = data && data["@graph"] ? data["@graph"] : [].concat(data || []);
      for (j = 0; j < nodes.length; j++) {
        if (nodes[j] && nodes[j]["@type"] === "Product" && nodes[j].name) return nodes[j];
      }
    }
    return null;
  }

  // The product's own name, never the page title ("Name – Shop name"): structured data, the
  // classic theme's title, the block theme's title, og:title; the page title only as a last resort.
  function productName() {
    var product = structuredProduct(), og = d.querySelector('meta[property="og:title"]');
    return decoded(product && product.name) || text(".product_title") ||
      text(".single-product main h1.wp-block-post-title, main h1.wp-block-post-title") ||
      decoded(og && og.getAttribute("content")) || d.title;
  }

  function autoWooCommerce() {
    var body = d.body, classes = body ? body.className : "";
    if (C.platform !== "woocommerce" && !/\bwoocommerce\b/.test(classes)) return;
    var m = /\bpostid-(\d+)\b/.exec(classes);
    if (/\bsingle-product\b/.test(classes) && m) {
      track("product_viewed", { product_id: m[1], name: productName(), url: w.location.href });
    } else if (/\btax-product_cat\b/.test(classes)) {
      track("category_viewed", { category: text(".woocommerce-products-header__title, h1.page-title, h1") ||
        d.title, url: w.location.href });
    }
    refreshWooCart();
    if (w.jQuery) {
      w.jQuery(body).on("added_to_cart removed_from_cart updated_cart_totals wc_cart_emptied", refreshWooCart);
    }
    ["wc-blocks_added_to_cart", "wc-blocks_removed_from_cart"].forEach(function (name) {
      body.addEventListener(name, refreshWooCart);
    });
  }

  function isEmailField(el) {
    if (!el || el.tagName !== "INPUT") return false;
    var hint = (el.type + " " + el.name + " " + el.id + " " + (el.getAttribute("autocomplete") || "")).toLowerCase();
    return hint.indexOf("email") >= 0;
  }

  function watchForms() {
    d.addEventListener("change", function (e) {
      if (isEmailField(e.target)) identify({ email: e.target.value });
    }, true);
    d.addEventListener("submit", function (e) {
      var form = e.target, i, fields, email = null;
      if (!form || !form.elements) return;
      fields = form.elements;
      for (i = 0; i < fields.length; i++) if (isEmailField(fields[i]) && EMAIL_RE.test(fields[i].value.trim())) {
        email = fields[i].value.trim();
      }
      if (!email) return;
      var hint = (form.id + " " + form.className + " " + (form.getAttribute("action") || "")).toLowerCase();
      if (form.hasAttribute("data-relance-newsletter") || /newsletter|subscribe|mc4wp|mailpoet|sib-form/.test(hint)) {
        identify({ email: email });
        send({ event: "newsletter_subscribed", contact: { email: email.toLowerCase() },
          properties: { list: form.getAttribute("data-relance-newsletter") || "newsletter", url: w.location.href } });
      } else {
        identify({ email: email });
      }
    }, true);
  }

  var commands = {
    consent: setConsent,
    identify: identify,
    track: track,
    page: function (p) { track("page_viewed", p || { url: w.location.href, title: d.title }); },
    product: function (p) { track("product_viewed", p); },
    category: function (p) { track("category_viewed", p); },
    cart: function (p) { track("cart_updated", p); },
    newsletter: function (p) {
      if (!p || !p.email) return;
      identify({ email: p.email });
      send({ event: "newsletter_subscribed", contact: { email: String(p.email).trim().toLowerCase() },
        properties: { list: p.list || "newsletter" } });
    }
  };

  function run(args) {
    var fn = commands[args[0]];
    if (fn) fn.apply(null, Array.prototype.slice.call(args, 1));
  }

  var queued = (w.relance && w.relance.q) || [];
  w.relance = function () { run(arguments); };
  if (w.relanceConsent === true || w.relanceConsent === false) setConsent(w.relanceConsent);
  for (var i = 0; i < queued.length; i++) run(queued[i]);

  function start() {
    track("page_viewed", { url: w.location.href, title: d.title, referrer: d.referrer || null });
    autoWooCommerce();
    watchForms();
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", start); else start();
  w.addEventListener("pagehide", flush);
})(window, document);
