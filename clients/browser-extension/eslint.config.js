import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["src/**/*.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.browser, ...globals.webextensions },
    },
  },
  {
    // Content scripts are classic scripts sharing globals in the order the manifest loads them.
    files: ["src/content/**/*.js", "src/adapters/**/*.js", "src/lib/redact.js"],
    languageOptions: {
      sourceType: "script",
      globals: { EngramCapture: "readonly", EngramRedact: "readonly" },
    },
  },
  {
    files: ["tests/fixtures/**/*.js"],
    languageOptions: { sourceType: "script", globals: globals.browser },
  },
  {
    files: ["scripts/**/*.mjs", "eslint.config.js"],
    languageOptions: { globals: globals.node },
  },
];
