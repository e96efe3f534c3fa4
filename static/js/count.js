// Keeps the petition page's signature count live: polls count.json every tally interval (the interval is the
// response's Cache-Control max-age) while the page is visible, and rewrites the number inside the existing
// role="status" region only when it changes. Without JavaScript the server-rendered count stays.
const element = document.querySelector(".app-signature-count[data-count-url]");

if (element && window.fetch) {
  const url = element.dataset.countUrl;
  const format = new Intl.NumberFormat("en-GB");
  let interval = 5;
  let timer = null;
  let current = null;

  const render = (count) => {
    if (count === current) return;
    current = count;
    const label = element.querySelector(".app-signature-count__label");
    const number = element.firstChild;
    const text = `${format.format(count)} `;
    if (number && number.nodeType === Node.TEXT_NODE) {
      number.nodeValue = text;
    } else {
      element.insertBefore(document.createTextNode(text), element.firstChild);
    }
    if (label) label.textContent = count === 1 ? "signature" : "signatures";
    const progress = document.querySelector("progress.app-progress");
    if (progress) {
      progress.value = Math.min(count, Number(progress.max));
    }
  };

  const schedule = () => {
    clearTimeout(timer);
    timer = document.visibilityState === "visible" ? setTimeout(poll, interval * 1000) : null;
  };

  const poll = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const maxAge = /max-age=(\d+)/.exec(response.headers.get("Cache-Control") || "");
        if (maxAge) interval = Math.max(1, Number(maxAge[1]));
        const data = await response.json();
        if (Number.isInteger(data.signature_count)) render(data.signature_count);
      }
    } catch {
      // Offline or a network blip: keep the count shown and try again next time.
    }
    schedule();
  };

  current = Number(element.firstChild?.nodeValue?.replace(/\D/g, "")) || null;
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") poll();
    else clearTimeout(timer);
  });
  schedule();
}
