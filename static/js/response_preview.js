// The government response form in the admin:
// - a live preview of the Markdown in a textarea[data-markdown-preview-url]: the text is POSTed (with the form's
//   CSRF token) to that staff-only endpoint, which renders and sanitises it exactly as the petition page does;
//   the HTML goes into [data-markdown-preview-output="<the textarea's data-markdown-preview-target>"];
// - a "characters remaining" message under a textarea[data-character-count].
// No inline script: the templates carry data attributes only.
(function () {
  "use strict";

  const PREVIEW_DELAY_MS = 300;

  function csrfToken(element) {
    const form = element.form || document;
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setUpPreview(textarea) {
    const url = textarea.dataset.markdownPreviewUrl;
    const target = textarea.dataset.markdownPreviewTarget || textarea.name;
    const output = document.querySelector(`[data-markdown-preview-output="${CSS.escape(target)}"]`);
    if (!url || !output || !window.fetch) return;

    let timer = null;
    let controller = null;
    let shown = null;

    const fail = (message) => {
      shown = null;
      output.textContent = message;
    };

    const render = async () => {
      const text = textarea.value;
      if (text === shown) return;
      if (controller) controller.abort();
      controller = new AbortController();
      const body = new FormData();
      body.append("text", text);
      try {
        const response = await fetch(url, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": csrfToken(textarea) },
          signal: controller.signal,
        });
        const json = (response.headers.get("Content-Type") || "").includes("application/json");
        const data = json ? await response.json() : {};
        if (response.ok && typeof data.html === "string") {
          // Sanitised by the server (petitions.markdown): only a short list of tags and http(s)/mailto links.
          output.innerHTML = data.html;
          shown = text;
        } else {
          fail(data.error || "The preview isn't available: save the response to see it.");
        }
      } catch (error) {
        if (error.name !== "AbortError") fail("The preview isn't available right now.");
      }
    };

    textarea.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(render, PREVIEW_DELAY_MS);
    });
  }

  function setUpCounter(field) {
    const max = Number(field.dataset.characterCount);
    if (!max) return;
    const message = document.createElement("div");
    message.className = "help";
    message.id = `${field.id || field.name}-count`;
    message.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", message);
    const described = field.getAttribute("aria-describedby");
    field.setAttribute("aria-describedby", described ? `${described} ${message.id}` : message.id);

    const update = () => {
      // The server counts a line break as one character, as the browser's maxlength does.
      const left = max - field.value.replace(/\r\n/g, "\n").length;
      message.textContent =
        left >= 0
          ? `${left} character${left === 1 ? "" : "s"} remaining`
          : `${-left} character${left === -1 ? "" : "s"} too many`;
      message.classList.toggle("errornote", left < 0);
    };
    field.addEventListener("input", update);
    update();
  }

  function init() {
    document.querySelectorAll("textarea[data-markdown-preview-url]").forEach(setUpPreview);
    document.querySelectorAll("[data-character-count]").forEach(setUpCounter);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
