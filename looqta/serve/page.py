"""The one page: a search box, each site's status, offers as they stream (EventSource), sorted by price.

One row per product: offers a ``match`` event grouped share a row, each site's price in it, the
cheapest marked (``.cheapest``, "★"); an offer no match joined is a row of its own. Each row's
"Prices & history" button opens a dialog with the stored product holding the row's offers
(``GET /api/products?offer=``): every site's offer, the cheapest marked, its last price change and
its price history; the search's product ids are its own, so the row asks by offer key.

No build step: plain HTML and inline JavaScript. Text from the sites is set with ``textContent``
and links only when they are http(s), so an offer cannot inject markup or script.
"""

import base64
import hashlib
import re

HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>looqta search</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:64rem}
form{display:flex;gap:.5rem}input[type=search]{flex:1;font-size:1.1rem;padding:.4rem}
#sites{margin:.8rem 0;display:flex;gap:1rem;font-size:.9rem}
.site{padding:.2rem .5rem;border-radius:.3rem;background:#eee}
.site.done{background:#d8f5d8}.site.failed{background:#f8d0d0}
#offers{list-style:none;padding:0}
.offer{display:flex;gap:.8rem;align-items:center;border-bottom:1px solid #ddd;padding:.4rem 0}
.offer img{width:64px;height:64px;object-fit:contain}.price{font-weight:bold;min-width:7rem}
.source{color:#666;font-size:.85rem}
.prices{display:flex;gap:.6rem;flex-wrap:wrap}
.site-price{padding:.1rem .4rem;border-radius:.3rem;background:#f3f3f3}
.site-price.cheapest{background:#d8f5d8;font-weight:bold}
#product{max-width:56rem;width:90%}#product table{border-collapse:collapse;width:100%;font-size:.9rem}
#product th,#product td{text-align:left;padding:.3rem;border-bottom:1px solid #ddd;vertical-align:top}
#product tr.cheapest{background:#d8f5d8}#product tr.cheapest .stored-price{font-weight:bold}
.history{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2rem .8rem;color:#444}
</style></head>
<body>
<h1>looqta</h1>
<form id="form"><input type="search" id="q" name="q" placeholder="Search every site" maxlength="200"
 autofocus><button>Search</button>
<label><input type="checkbox" id="sort" checked> sort by price</label></form>
<p id="state"></p><div id="sites"></div><ul id="offers"></ul>
<dialog id="product" aria-labelledby="product-title"><form method="dialog"><button>Close</button></form>
<h2 id="product-title"></h2><p id="product-state" role="status"></p>
<table><thead><tr><th>site</th><th>offer</th><th>price</th><th>last change</th><th>price history</th></tr>
</thead><tbody id="product-offers"></tbody></table></dialog>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let source = null;
function safeUrl(u) { try { const p = new URL(u); return /^https?:$/.test(p.protocol) ? p.href : null; }
  catch (e) { return null; } }
function siteBadge(site) {
  let el = document.querySelector(`.site[data-site="${CSS.escape(site)}"]`);
  if (!el) { el = document.createElement("span"); el.className = "site"; el.dataset.site = site;
    $("sites").append(el); }
  return el;
}
function setSite(site, cls, text) { const el = siteBadge(site); el.className = "site " + cls;
  el.textContent = site + ": " + text; }
function sortOffers() {
  if (!$("sort").checked) return;
  const items = [...$("offers").children];
  items.sort((a, b) => Number(a.dataset.price) - Number(b.dataset.price));
  $("offers").append(...items);
}
const offers = new Map(), groups = new Map(), productOf = new Map(), cheapestOf = new Map();
const keyOf = (o) => o.site + ":" + o.source_id;
const priceOf = (o) => o.price == null ? Infinity : Number(o.price);
function sitePrice(o, cheapest) {
  const el = document.createElement("a"); el.className = "site-price" + (cheapest ? " cheapest" : "");
  el.dataset.key = keyOf(o); el.dataset.site = o.site;
  el.textContent = `${cheapest ? "★ " : ""}${o.site}: ${o.price == null ? "—" : o.price} ${o.currency || ""}`;
  const href = safeUrl(o.url || "");
  if (href) { el.href = href; el.rel = "noopener noreferrer"; el.target = "_blank"; }
  return el;
}
function row(members, cheapestKey) {
  members.sort((a, b) => priceOf(a) - priceOf(b));
  const first = members[0], li = document.createElement("li"); li.className = "offer";
  li.dataset.price = priceOf(first); li.dataset.offers = members.length;
  const img = document.createElement("img"); const src = safeUrl((first.image_urls || [])[0] || "");
  if (src) img.src = src; img.alt = "";
  const title = document.createElement("span"); title.className = "title";
  title.textContent = first.title || first.source_id;
  const prices = document.createElement("span"); prices.className = "prices";
  for (const o of members) prices.append(sitePrice(o, members.length > 1 && keyOf(o) === cheapestKey));
  const sites = document.createElement("span"); sites.className = "source";
  sites.textContent = [...new Set(members.map((o) => o.site))].join(" · ");
  const details = document.createElement("button"); details.type = "button"; details.className = "details";
  details.textContent = "Prices & history"; details.setAttribute("aria-haspopup", "dialog");
  details.addEventListener("click", () => showProduct(members.map(keyOf), title.textContent));
  li.append(img, title, prices, sites, details); return li;
}
// The stored product of a row (GET /api/products?offer=): the first of its offers the store holds.
let asked = 0;
async function storedProduct(keys) {
  for (const key of keys) {
    const r = await fetch("/api/products?offer=" + encodeURIComponent(key));
    if (r.status === 404) continue;
    if (!r.ok) { let why = r.statusText; try { why = (await r.json()).detail; } catch (e) { /* not JSON */ }
      throw new Error(`${r.status}: ${why}`); }
    return r.json();
  }
  return null;
}
function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
const when = (iso) => iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "?";  // the store keeps UTC
function change(o) {
  const c = o.last_change; if (!c) return "no change recorded";
  const before = c.previous_currency && c.previous_currency !== o.currency ? " " + c.previous_currency : "";
  return `${c.previous_price}${before} → ${c.price} ${o.currency || ""} on ${when(c.changed_at)}`;
}
function history(o) {
  const ol = document.createElement("ol"); ol.className = "history";
  for (const h of (o.history || []).slice(-12)) {
    const li = document.createElement("li"), t = document.createElement("time");
    t.dateTime = h.seen_at || ""; t.textContent = (h.seen_at || "?").slice(0, 10);
    li.append(t, " " + h.price); ol.append(li);
  }
  const td = document.createElement("td"); td.append(ol); return td;
}
function storedOffer(o, cheapest) {
  const tr = document.createElement("tr"); tr.className = "stored-offer" + (cheapest ? " cheapest" : "");
  tr.dataset.key = o.key;
  const offer = document.createElement("td"), href = safeUrl(o.url || "");
  const a = document.createElement(href ? "a" : "span"); a.textContent = o.title || o.key;
  if (href) { a.href = href; a.rel = "noopener noreferrer"; a.target = "_blank"; }
  offer.append(a);
  const price = cell(`${cheapest ? "★ " : ""}${o.price == null ? "—" : o.price} ${o.currency || ""}`);
  price.className = "stored-price";
  const changed = cell(change(o)); changed.className = "last-change";
  tr.append(cell(o.site), offer, price, changed, history(o)); return tr;
}
function showStored(p, keys) {
  $("product-title").textContent = p.title;
  const cheapestKey = p.cheapest ? p.cheapest.key : null;
  $("product-offers").replaceChildren(...p.offers.map((o) => storedOffer(o, o.key === cheapestKey)));
  const missing = keys.filter((k) => !p.offers.some((o) => o.key === k));
  $("product-state").textContent = `${p.offers.length} offers in the store` +
    (missing.length ? `; not in this stored product: ${missing.join(", ")}` : "");
}
async function showProduct(keys, title) {
  const mine = ++asked;
  $("product-title").textContent = title; $("product-offers").replaceChildren();
  $("product-state").textContent = "loading…";
  if (!$("product").open) $("product").showModal();
  let found;
  try { found = await storedProduct(keys); } catch (e) {
    if (mine === asked) $("product-state").textContent = "could not read the store: " + e.message;
    return;
  }
  if (mine !== asked) return;
  if (found) showStored(found, keys);
  else $("product-state").textContent = `not in the store yet: no stored product holds ${keys.join(", ")}`;
}
function render() {
  const rows = [];
  for (const [pid, keys] of groups) {
    const members = keys.map((k) => offers.get(k)).filter(Boolean);
    if (members.length) rows.push(row(members, cheapestOf.get(pid)));
  }
  for (const [key, o] of offers) if (!productOf.has(key)) rows.push(row([o], null));
  $("offers").replaceChildren(...rows); sortOffers();
}
function addOffer(o) { offers.set(keyOf(o), o); render(); }
function addMatch(d) {
  for (const k of d.offers) {
    const old = productOf.get(k); if (old && old !== d.product) groups.delete(old);
  }
  groups.set(d.product, d.offers); cheapestOf.set(d.product, d.cheapest ? d.cheapest.key : null);
  productOf.clear(); for (const [pid, keys] of groups) for (const k of keys) productOf.set(k, pid);
  render();
}
function dropSite(site) {
  for (const key of [...offers.keys()]) if (offers.get(key).site === site) offers.delete(key);
  for (const [pid, keys] of [...groups]) if (keys.some((k) => k.startsWith(site + ":"))) groups.delete(pid);
  productOf.clear(); for (const [pid, keys] of groups) for (const k of keys) productOf.set(k, pid);
  render();
}
function search(q) {
  if (source) source.close();
  $("offers").replaceChildren(); $("sites").replaceChildren(); $("state").textContent = "searching…";
  offers.clear(); groups.clear(); productOf.clear(); cheapestOf.clear();
  source = new EventSource("/api/search?q=" + encodeURIComponent(q));
  source.addEventListener("search", (e) => { const d = JSON.parse(e.data);
    $("state").textContent = `“${d.query}” (cache: ${d.cache})`; });
  source.addEventListener("site-started", (e) => { const d = JSON.parse(e.data);
    dropSite(d.site);
    setSite(d.site, "running", "searching"); });
  source.addEventListener("offer", (e) => addOffer(JSON.parse(e.data)));
  source.addEventListener("match", (e) => addMatch(JSON.parse(e.data)));
  source.addEventListener("site-done", (e) => { const d = JSON.parse(e.data);
    setSite(d.site, "done", `${d.count} offers in ${d.seconds} s`); });
  source.addEventListener("site-failed", (e) => { const d = JSON.parse(e.data);
    setSite(d.site, "failed", "failed (" + d.reason + ")"); });
  source.addEventListener("done", () => { source.close(); source = null;
    $("state").textContent += " — done"; });
  source.onerror = () => { if (source && source.readyState === EventSource.CLOSED)
    $("state").textContent = "the search could not be run"; };
}
$("form").addEventListener("submit", (e) => { e.preventDefault(); const q = $("q").value.trim();
  if (q) search(q); });
$("sort").addEventListener("change", sortOffers);
</script></body></html>
"""


def _digest(pattern: str) -> str:
    [inline] = re.findall(pattern, HTML, flags=re.DOTALL)
    return "'sha256-" + base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode() + "'"


#: The page's headers: only its own inline script and style run (by hash), it talks only to its
#: origin, images from any http(s) shop, nothing may frame it.
HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            f"script-src {_digest(r'<script>(.*?)</script>')}",
            f"style-src {_digest(r'<style>(.*?)</style>')}",
            "connect-src 'self'",
            "img-src http: https: data:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
