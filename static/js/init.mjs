// Initialises every GOV.UK Frontend component on the page (error summary focus,
// service navigation menu toggle, skip link, radios, checkboxes, ...).
// Loaded with <script type="module">, so browsers without ES module support
// (which also lack the govuk-frontend-supported class) skip it.
import { initAll } from "../govuk/govuk-frontend.min.js";

initAll();
