"""The one page: a search box, each site's status, offers as they stream (EventSource), sorted by price.

No build step: plain HTML and inline JavaScript. Text from the sites is set with ``textContent``
and links only when they are http(s), so an offer cannot inject markup or script.
"""

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
</style></head>
<body>
<h1>looqta</h1>
<form id="form"><input type="search" id="q" name="q" placeholder="Search every site" maxlength="200"
 autofocus><button>Search</button>
<label><input type="checkbox" id="sort" checked> sort by price</label></form>
<p id="state"></p><div id="sites"></div><ul id="offers"></ul>
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
function addOffer(o) {
  const li = document.createElement("li"); li.className = "offer"; li.dataset.site = o.site;
  li.dataset.price = o.price == null ? Infinity : Number(o.price);
  const img = document.createElement("img"); const src = safeUrl((o.image_urls || [])[0] || "");
  if (src) img.src = src; img.alt = "";
  const price = document.createElement("span"); price.className = "price";
  price.textContent = o.price == null ? "—" : `${o.price} ${o.currency || ""}`;
  const title = document.createElement("a"); title.textContent = o.title || o.source_id;
  const href = safeUrl(o.url || ""); if (href) { title.href = href; title.rel = "noopener noreferrer";
    title.target = "_blank"; }
  const site = document.createElement("span"); site.className = "source"; site.textContent = o.site;
  li.append(img, price, title, site); $("offers").append(li); sortOffers();
}
function search(q) {
  if (source) source.close();
  $("offers").replaceChildren(); $("sites").replaceChildren(); $("state").textContent = "searching…";
  source = new EventSource("/api/search?q=" + encodeURIComponent(q));
  source.addEventListener("search", (e) => { const d = JSON.parse(e.data);
    $("state").textContent = `“${d.query}” (cache: ${d.cache})`; });
  source.addEventListener("site-started", (e) => { const d = JSON.parse(e.data);
    document.querySelectorAll(`.offer[data-site="${CSS.escape(d.site)}"]`).forEach((x) => x.remove());
    setSite(d.site, "running", "searching"); });
  source.addEventListener("offer", (e) => addOffer(JSON.parse(e.data)));
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
