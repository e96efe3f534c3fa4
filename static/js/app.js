// Loaded as the first element in <body> (an external file, so a strict
// Content-Security-Policy needs no 'unsafe-inline' or nonce). Same effect as the
// inline script in GOV.UK Frontend's template.njk.
document.body.className +=
  " js-enabled" +
  ("noModule" in HTMLScriptElement.prototype ? " govuk-frontend-supported" : "");
