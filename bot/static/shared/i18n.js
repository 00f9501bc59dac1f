/* Page texts in English and Chinese, shared by every page. The texts come from the message catalogue
 * (knowledge/messages/<area>.<lang>.yml), which the gateway serves as the classic script /i18n.js:
 *   window.TAXGUIDE_I18N = {page: {en: {...}, zh: {...}}, console: {...}, dashboard: {...}}
 * Each page loads /i18n.js before its modules. Without it the page keeps the texts written in its HTML. */

import { all } from "./dom.js";

function has(dict, key) {
  return Object.prototype.hasOwnProperty.call(dict, key);
}

/* The texts of one area of the catalogue ("page", "console" or "dashboard"), by language ("en", "zh"). */
export function catalogue(area) {
  return (window.TAXGUIDE_I18N && window.TAXGUIDE_I18N[area]) || { en: {}, zh: {} };
}

/* t(key, vars): the text of `key` in the language `language()` returns, else in English, else the key
 * itself; `{name}` placeholders are filled from `vars`. */
export function translator(strings, language) {
  return function t(key, vars) {
    const dict = strings[language()] || {}, en = strings.en || {};
    const text = has(dict, key) ? dict[key] : (has(en, key) ? en[key] : key);
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, function (m, k) { return has(vars, k) ? String(vars[k]) : m; });
  };
}

/* "zh" when the browser prefers Chinese, else "en". */
export function browserLanguage() {
  return (navigator.language || "").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
}

/* Translate the page's static texts: elements with data-i18n (text; values from data-i18n-vars),
 * data-i18n-placeholder and data-i18n-aria-label, the title, <html lang> and the pressed language button.
 * A key without a text (no /i18n.js) leaves the page's own text in place. */
export function translatePage(t, lang) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  function each(attr, apply) {
    all("[" + attr + "]").forEach(function (node) {
      const key = node.getAttribute(attr);
      let vars = null;
      try { vars = JSON.parse(node.getAttribute("data-i18n-vars") || "null"); } catch (e) { vars = null; }
      const value = t(key, vars);
      if (value !== key) apply(node, value);
    });
  }
  if (t("pageTitle") !== "pageTitle") document.title = t("pageTitle");
  each("data-i18n", function (node, value) { node.textContent = value; });
  each("data-i18n-placeholder", function (node, value) { node.setAttribute("placeholder", value); });
  each("data-i18n-aria-label", function (node, value) { node.setAttribute("aria-label", value); });
  all(".lang-btn").forEach(function (b) {
    b.setAttribute("aria-pressed", b.getAttribute("data-lang") === lang ? "true" : "false");
  });
}
